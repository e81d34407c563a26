import type { Metadata, Viewport } from "next";
import type { ReactNode } from "react";
import "./globals.css";

export const metadata: Metadata = {
  title: { default: "unlearn-sweep dashboard", template: "%s · unlearn-sweep" },
  description: "Sweeps, paper figures, results and the privacy accountant of unlearn-sweep",
};

export const viewport: Viewport = { width: "device-width", initialScale: 1 };

const LINKS = [
  { href: "/", label: "Sweeps" },
  { href: "/figures", label: "Figures" },
  { href: "/results", label: "Results" },
  { href: "/accountant", label: "Accountant" },
  { href: "/workers", label: "Workers" },
];

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>
        <a className="skip" href="#main">
          Skip to content
        </a>
        <header className="top">
          <span className="brand">unlearn-sweep</span>
          <nav aria-label="Main">
            <ul>
              {LINKS.map((l) => (
                <li key={l.href}>
                  <a href={l.href}>{l.label}</a>
                </li>
              ))}
            </ul>
          </nav>
        </header>
        <main id="main" tabIndex={-1}>
          {children}
        </main>
      </body>
    </html>
  );
}

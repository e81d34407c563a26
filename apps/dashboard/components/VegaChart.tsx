"use client";
/**
 * A paper figure: the server's SVG first (so the page is complete without JavaScript), then the same
 * Vega-Lite spec embedded interactively (tooltips with mean ± std, chains and job), with SVG and PNG downloads.
 */
import { useEffect, useRef, useState } from "react";
import type { TopLevelSpec } from "vega-lite";

interface Props {
  spec: TopLevelSpec;
  svg: string | null;
  /** file name without extension for the downloads */
  name: string;
  /** what the figure shows, for screen readers */
  label: string;
}

type View = {
  toSVG(): Promise<string>;
  toImageURL(type: string, scale?: number): Promise<string>;
  finalize(): void;
};

function download(href: string, filename: string): void {
  const a = document.createElement("a");
  a.href = href;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
}

export function VegaChart({ spec, svg, name, label }: Props) {
  const target = useRef<HTMLDivElement>(null);
  const view = useRef<View | null>(null);
  const [live, setLive] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const key = JSON.stringify(spec);

  useEffect(() => {
    let cancelled = false;
    (async () => {
      const { default: embed } = await import("vega-embed");
      if (cancelled || !target.current) return;
      const result = await embed(target.current, JSON.parse(key), {
        renderer: "svg",
        actions: false,
        tooltip: { theme: "light" },
      });
      if (cancelled) {
        result.finalize();
        return;
      }
      view.current?.finalize();
      view.current = result.view as unknown as View;
      setLive(true);
    })().catch((e: Error) => setError(e.message));
    return () => {
      cancelled = true;
    };
  }, [key]);

  useEffect(() => () => view.current?.finalize(), []);

  const saveSvg = async () => {
    const text = view.current ? await view.current.toSVG() : svg;
    if (!text) return;
    const url = URL.createObjectURL(new Blob([text], { type: "image/svg+xml" }));
    download(url, `${name}.svg`);
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  };
  const savePng = async () => {
    if (view.current) download(await view.current.toImageURL("png", 2), `${name}.png`);
  };

  return (
    <figure className="chart" aria-label={label}>
      <div className="plot" data-live={live ? "yes" : "no"}>
        {!live && svg ? (
          // Vega's own SVG renderer wrote this on our server and escapes every text it draws.
          // biome-ignore lint/security/noDangerouslySetInnerHtml: server-rendered figure markup, see above
          <div dangerouslySetInnerHTML={{ __html: svg }} />
        ) : null}
        <div ref={target} />
      </div>
      <figcaption>
        <button type="button" onClick={saveSvg}>
          Download SVG
        </button>
        <button type="button" onClick={savePng} disabled={!live}>
          Download PNG
        </button>
        {error ? <span className="muted">interactive chart unavailable: {error}</span> : null}
      </figcaption>
    </figure>
  );
}

import type { Metadata } from "next";
import { AccountantCalc } from "../../components/AccountantCalc.tsx";
import { accountantInput, accountantRaw } from "../../lib/accountant.ts";
import { services } from "../../lib/services.ts";

export const dynamic = "force-dynamic";
export const metadata: Metadata = { title: "Accountant" };

type Props = { searchParams: Promise<Record<string, string | string[] | undefined>> };

/** K, α, ε0 and σ* for a dataset, ε, σ and S, computed on the server for the first HTML, then live. */
export default async function AccountantPage({ searchParams }: Props) {
  const params = await searchParams;
  const raw = accountantRaw(params);
  const parsed = accountantInput(params);
  let initial = null;
  let error = parsed.ok ? null : parsed.error;
  if (parsed.ok) {
    try {
      initial = await services().accountant(parsed.input);
    } catch (e) {
      if ((e as Error).name !== "AccountantInputError") throw e;
      error = (e as Error).message;
    }
  }
  return (
    <>
      <h1>Accountant</h1>
      <p className="muted">
        The Rényi-DP accountant of the paper (SPEC §5), as <span className="mono">pnpm accountant k</span>{" "}
        computes it.
      </p>
      <AccountantCalc raw={raw} initial={initial} initialError={error} datasets={services().datasets()} />
    </>
  );
}

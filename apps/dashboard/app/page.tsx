import { DbError } from "../components/DbError.tsx";
import { LiveSweeps } from "../components/LiveSweeps.tsx";
import { load } from "../lib/load.ts";

export const dynamic = "force-dynamic";

export default async function SweepsPage() {
  const loaded = await load((s) => s.sweeps());
  if (!loaded.ok) return <DbError problem={loaded.problem} />;
  return (
    <>
      <h1>Sweeps</h1>
      <LiveSweeps initial={loaded.value} />
    </>
  );
}

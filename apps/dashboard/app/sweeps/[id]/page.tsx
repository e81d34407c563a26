import type { Metadata } from "next";
import { notFound } from "next/navigation";
import { DbError } from "../../../components/DbError.tsx";
import { LiveSweep } from "../../../components/LiveSweep.tsx";
import { load } from "../../../lib/load.ts";

export const dynamic = "force-dynamic";

type Props = { params: Promise<{ id: string }> };

export async function generateMetadata({ params }: Props): Promise<Metadata> {
  return { title: `sweep ${(await params).id.slice(0, 12)}` };
}

export default async function SweepPage({ params }: Props) {
  const { id } = await params;
  const loaded = await load((s) => s.sweep(id, { svg: true }));
  if (!loaded.ok) return <DbError problem={loaded.problem} />;
  if (!loaded.value) notFound();
  return <LiveSweep initial={loaded.value} />;
}

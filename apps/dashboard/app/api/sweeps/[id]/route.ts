import { answer } from "../../../../lib/api.ts";
import { services } from "../../../../lib/services.ts";

export const dynamic = "force-dynamic";

export async function GET(_req: Request, ctx: { params: Promise<{ id: string }> }) {
  const { id } = await ctx.params;
  return answer(() => services().sweep(id));
}

import { accountantInput } from "../../../lib/accountant.ts";
import { json } from "../../../lib/api.ts";
import { services } from "../../../lib/services.ts";

export const dynamic = "force-dynamic";

/** GET /api/accountant?dataset=…&epsilon=…&sigma=…&S=…&granularity=…&smoothness=…&targetK=… */
export async function GET(req: Request) {
  const parsed = accountantInput(new URL(req.url).searchParams);
  if (!parsed.ok) return json({ error: parsed.error }, 400);
  try {
    return json(await services().accountant(parsed.input));
  } catch (error) {
    if ((error as Error).name === "AccountantInputError")
      return json({ error: (error as Error).message }, 400);
    if ((error as Error).name === "AccountantBusyError")
      return json({ error: (error as Error).message }, 503);
    throw error;
  }
}

import { answer } from "../../../lib/api.ts";
import { services } from "../../../lib/services.ts";

export const dynamic = "force-dynamic";

export function GET() {
  return answer(() => services().sweeps());
}

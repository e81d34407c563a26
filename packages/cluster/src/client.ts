/**
 * The coordinator's gRPC client as the CLI, the tests and the bench use it: the token goes in every
 * call's metadata (`authorization: Bearer <token>`); `grpcs://HOST:PORT` (or https://) speaks TLS,
 * trusting the system's roots or the PEM file in UNLEARN_COORDINATOR_CA; `HOST:PORT` is plaintext.
 */
import { readFileSync } from "node:fs";
import { type ClientReadableStream, credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import type {
  CancelSweepRequest,
  CancelSweepResponse,
  GetSweepRequest,
  ListSweepsRequest,
  ListSweepsResponse,
  ListWorkersRequest,
  ListWorkersResponse,
  QueryResultsRequest,
  QueryResultsResponse,
  SubmitSweepRequest,
  SubmitSweepResponse,
  SweepEvent,
  SweepInfo,
  SweepStorage,
  WatchSweepRequest,
} from "@unlearn/protocol";
import { CoordinatorClient } from "@unlearn/protocol";

export interface Coordinator {
  readonly address: string;
  readonly client: CoordinatorClient;
  /** A unary call, promisified: `call("listSweeps", {})`. */
  call<M extends UnaryMethod>(method: M, request: RequestOf<M>): Promise<ResponseOf<M>>;
  watch(request: WatchSweepRequest): ClientReadableStream<SweepEvent>;
  close(): void;
}

interface Unary {
  submitSweep: [SubmitSweepRequest, SubmitSweepResponse];
  getSweep: [GetSweepRequest, SweepInfo];
  listSweeps: [ListSweepsRequest, ListSweepsResponse];
  cancelSweep: [CancelSweepRequest, CancelSweepResponse];
  queryResults: [QueryResultsRequest, QueryResultsResponse];
  getSweepStorage: [GetSweepRequest, SweepStorage];
  listWorkers: [ListWorkersRequest, ListWorkersResponse];
}
type UnaryMethod = keyof Unary;
type RequestOf<M extends UnaryMethod> = Unary[M][0];
type ResponseOf<M extends UnaryMethod> = Unary[M][1];

export function connectCoordinator(
  address: string,
  token: string,
  env: NodeJS.ProcessEnv = process.env,
): Coordinator {
  const tls = /^(grpcs|https):\/\//i.test(address);
  const target = address.replace(/^[a-z]+:\/\//i, "");
  if (!/^[^\s/]+:\d+$/.test(target))
    throw new Error(
      `--coordinator: expected HOST:PORT (or grpcs://HOST:PORT), got ${JSON.stringify(address)}`,
    );
  let channel = credentials.createInsecure();
  if (tls) {
    const caFile = env.UNLEARN_COORDINATOR_CA;
    channel = credentials.createSsl(caFile ? readFileSync(caFile) : null);
  }
  const client = new CoordinatorClient(target, channel);
  const metadata = () => {
    const m = new Metadata();
    m.set("authorization", `Bearer ${token}`);
    return m;
  };
  return {
    address,
    client,
    call(method, request) {
      return new Promise((resolve, reject) => {
        const fn = client[method].bind(client) as unknown as (
          req: unknown,
          md: Metadata,
          cb: (e: ServiceError | null, r: unknown) => void,
        ) => void;
        fn(request, metadata(), (error, response) => (error ? reject(error) : resolve(response as never)));
      });
    },
    watch(request) {
      return client.watchSweep(request, metadata());
    },
    close() {
      client.close();
    },
  };
}

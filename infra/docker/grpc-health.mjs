#!/usr/bin/env node
/**
 * `node infra/docker/grpc-health.mjs [HOST:PORT] [SERVICE]`: asks a gRPC server's grpc.health.v1 Check
 * and exits 0 only for SERVING (a standby coordinator answers NOT_SERVING: exit 1). For container
 * health checks where the orchestrator has no gRPC probe of its own (docker compose). TLS when
 * GRPC_TLS_CERT is set (the coordinator's own certificate is trusted as the CA: it is self-signed or
 * the probe runs beside it). The messages are a single string field and a single enum field, so they
 * are encoded here by hand and no .proto is loaded.
 */
import { readFileSync } from "node:fs";
import { Client, credentials } from "@grpc/grpc-js";

const STATUS = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"];

/** HealthCheckRequest { string service = 1; } */
export function encodeRequest(service) {
  const bytes = Buffer.from(service, "utf8");
  if (bytes.length > 127) throw new Error("service name too long for this probe");
  return bytes.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a, bytes.length]), bytes]);
}

/** HealthCheckResponse { ServingStatus status = 1; }: an absent field is UNKNOWN (0). */
export function decodeResponse(buffer) {
  if (buffer.length === 0) return "UNKNOWN";
  if (buffer[0] !== 0x08 || buffer.length < 2)
    throw new Error(`unexpected response ${buffer.toString("hex")}`);
  return STATUS[buffer[1]] ?? `status ${buffer[1]}`;
}

export function check(address, service, { tlsCert, timeoutMs = 3000 } = {}) {
  const creds = tlsCert ? credentials.createSsl(readFileSync(tlsCert)) : credentials.createInsecure();
  const client = new Client(address, creds);
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      "/grpc.health.v1.Health/Check",
      encodeRequest,
      decodeResponse,
      service,
      { deadline: Date.now() + timeoutMs },
      (error, status) => {
        client.close();
        if (error) reject(error);
        else resolve(status);
      },
    );
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [
    address = process.env.GRPC_ADDR?.replace(/^0\.0\.0\.0:/, "127.0.0.1:") ?? "127.0.0.1:50051",
    service = "",
  ] = process.argv.slice(2);
  check(address, service, { tlsCert: process.env.GRPC_TLS_CERT || undefined }).then(
    (status) => {
      console.log(`${address} ${service || "(server)"}: ${status}`);
      process.exit(status === "SERVING" ? 0 : 1);
    },
    (error) => {
      console.error(`${address}: ${error.message}`);
      process.exit(1);
    },
  );
}

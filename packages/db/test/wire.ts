/**
 * A minimal PostgreSQL wire-protocol client for the share tests: it sends the frontend messages a test
 * names, one by one, so that a test can split an extended-protocol batch between two connections in
 * an exact order (no driver would).
 */

import { connect, type Socket } from "node:net";
import { shareClientOptions } from "../src/share.ts";

export interface Message {
  type: string;
  body: Buffer;
}

function frame(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, "latin1");
  head.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}

const cstr = (s: string) => Buffer.from(`${s}\0`, "utf8");

export const parse = (sql: string) => frame("P", Buffer.concat([cstr(""), cstr(sql), Buffer.from([0, 0])]));
/** Bind the unnamed statement to the unnamed portal, no parameters, text results. */
export const bind = () => frame("B", Buffer.concat([cstr(""), cstr(""), Buffer.alloc(6)]));
export const execute = () => frame("E", Buffer.concat([cstr(""), Buffer.alloc(4)]));
export const sync = () => frame("S", Buffer.alloc(0));
export const flush = () => frame("H", Buffer.alloc(0));
/** A simple Query: one or more statements, ends the batch. */
export const query = (sql: string) => frame("Q", cstr(sql));

export class WireClient {
  private buffer = Buffer.alloc(0);
  private messages: Message[] = [];
  private wake: (() => void) | null = null;
  /** Resolves when the server closes the connection. */
  readonly closed: Promise<void>;

  private constructor(private readonly socket: Socket) {
    this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
    socket.on("data", (d) => {
      this.buffer = Buffer.concat([this.buffer, d]);
      while (this.buffer.length >= 5) {
        const length = this.buffer.readInt32BE(1);
        if (this.buffer.length < 1 + length) break;
        this.messages.push({
          type: String.fromCharCode(this.buffer[0]!),
          body: this.buffer.subarray(5, 1 + length),
        });
        this.buffer = this.buffer.subarray(1 + length);
      }
      this.wake?.();
    });
  }

  /** Connects to a share (its postgres://…?host=DIR URL) and logs in. */
  static async open(url: string): Promise<WireClient> {
    const socket = connect(shareClientOptions(url).path);
    await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    const client = new WireClient(socket);
    const params = Buffer.concat([
      cstr("user"),
      cstr("postgres"),
      cstr("database"),
      cstr("postgres"),
      cstr(""),
    ]);
    const startup = Buffer.alloc(8);
    startup.writeInt32BE(8 + params.length, 0);
    startup.writeInt32BE(196608, 4);
    client.send(Buffer.concat([startup, params]));
    await client.until("Z");
    return client;
  }

  send(...messages: Buffer[]): void {
    this.socket.write(Buffer.concat(messages));
  }

  /** Waits for a message of `type` and returns everything received up to and including it. */
  async until(type: string, timeoutMs = 10_000): Promise<Message[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.messages.findIndex((m) => m.type === type);
      if (i >= 0) return this.messages.splice(0, i + 1);
      if (Date.now() > deadline) throw new Error(`no "${type}" message within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 50);
      });
    }
  }

  /** The first column of each DataRow among `messages`, as text. */
  static values(messages: Message[]): string[] {
    return messages
      .filter((m) => m.type === "D")
      .map((m) => {
        const length = m.body.readInt32BE(2);
        return m.body.subarray(6, 6 + length).toString("utf8");
      });
  }

  /** The message field ('M') of each ErrorResponse among `messages`. */
  static errors(messages: Message[]): string[] {
    return messages
      .filter((m) => m.type === "E")
      .map((m) => {
        const fields = m.body.toString("utf8").split("\0");
        return fields.find((f) => f.startsWith("M"))?.slice(1) ?? "";
      });
  }

  close(): void {
    this.socket.destroy();
  }
}

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { CIFAR10_FILES, CIFAR10_RECORD_BYTES, cifar10Labels, readCifar10 } from "./cifar10.ts";
import { syntheticCifar10Files, tarArchive, writeCifar10 } from "./cifar10-fixtures.ts";

const root = mkdtempSync(join(tmpdir(), "cifar10-read-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const RECORDS = 7;
const files = syntheticCifar10Files(RECORDS, 5);
let n = 0;
const fresh = () => join(root, `case-${n++}`);

describe("readCifar10", () => {
  it("reads the six files from a .tar.gz laid out like the official archive", async () => {
    const data = await readCifar10(writeCifar10(fresh(), files, "tar.gz"), { recordsPerFile: RECORDS });
    expect(data.train.map((f) => f.name)).toEqual(CIFAR10_FILES.slice(0, 5));
    expect(data.test.name).toBe("test_batch.bin");
    for (const f of [...data.train, data.test]) {
      expect(f.bytes.equals(files.get(f.name)!)).toBe(true);
      expect(f.records).toBe(RECORDS);
      expect(f.source).toMatch(new RegExp(`cifar-10-binary\\.tar\\.gz:cifar-10-batches-bin/${f.name}$`));
    }
    // record r of file f has label (3r + f) mod 10
    expect([...cifar10Labels(data.train[1])]).toEqual([1, 4, 7, 0, 3, 6, 9]);
  });

  it("reads a folder, with the files directly in it or in cifar-10-batches-bin/", async () => {
    const nested = writeCifar10(fresh(), files, "folder");
    const viaParent = await readCifar10(join(nested, ".."), { recordsPerFile: RECORDS });
    const direct = await readCifar10(nested, { recordsPerFile: RECORDS });
    expect(viaParent.test.bytes.equals(files.get("test_batch.bin")!)).toBe(true);
    expect(direct.train[4].source).toBe(join(nested, "data_batch_5.bin"));
  });

  it("reads a plain (not gzipped) tar and skips members it does not need", async () => {
    const dir = fresh();
    mkdirSync(dir);
    const entries: { name: string; bytes: Uint8Array }[] = [
      { name: "other/big.bin", bytes: Buffer.alloc(5000, 7) },
    ];
    for (const [name, bytes] of files) entries.push({ name: `x/${name}`, bytes });
    writeFileSync(join(dir, "c.tar"), tarArchive(entries));
    const data = await readCifar10(join(dir, "c.tar"), { recordsPerFile: RECORDS });
    expect(data.train[0].bytes.equals(files.get("data_batch_1.bin")!)).toBe(true);
  });

  it("names the file whose size is wrong", async () => {
    const bad = new Map(files);
    bad.set(
      "data_batch_3.bin",
      files.get("data_batch_3.bin")!.subarray(0, RECORDS * CIFAR10_RECORD_BYTES - 1),
    );
    await expect(
      readCifar10(writeCifar10(fresh(), bad, "tar.gz"), { recordsPerFile: RECORDS }),
    ).rejects.toThrow(
      /cifar-10-batches-bin\/data_batch_3\.bin: 21510 bytes, expected 21511 \(7 records of 3073 bytes/,
    );
    // the official count is the default: a 7-record file is too small for it
    await expect(readCifar10(writeCifar10(fresh(), files, "folder"))).rejects.toThrow(
      /data_batch_1\.bin: 21511 bytes, expected 30730000 \(10000 records/,
    );
  });

  it("names the file and record whose label is outside 0…9", async () => {
    const bad = new Map(files);
    const copy = Buffer.from(files.get("test_batch.bin")!);
    copy[4 * CIFAR10_RECORD_BYTES] = 10;
    bad.set("test_batch.bin", copy);
    const folder = writeCifar10(fresh(), bad, "folder");
    await expect(readCifar10(folder, { recordsPerFile: RECORDS })).rejects.toThrow(
      `${join(folder, "test_batch.bin")}: record 4 (byte offset 12292) has label 10, outside 0…9`,
    );
  });

  it("refuses a member whose declared size is too large from its header, before buffering it", async () => {
    const tar = tarArchive([{ name: "cifar-10-batches-bin/data_batch_1.bin", bytes: Buffer.alloc(10) }]);
    // Declare 8 GiB - 1 (octal 77777777777) and fix the checksum: the data never follows.
    tar.write("77777777777\0", 124, "latin1");
    tar.write("        ", 148, "latin1");
    let sum = 0;
    for (const b of tar.subarray(0, 512)) sum += b;
    tar.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
    const dir = fresh();
    mkdirSync(dir);
    writeFileSync(join(dir, "huge.tar"), tar);
    const started = Date.now();
    await expect(readCifar10(join(dir, "huge.tar"))).rejects.toThrow(
      /huge\.tar: not a readable .*data_batch_1\.bin declares 8589934591 bytes, more than the 30730000 it may hold/,
    );
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("names a missing file, a truncated or corrupt archive, and a bad record count", async () => {
    const missing = new Map(files);
    missing.delete("data_batch_4.bin");
    await expect(
      readCifar10(writeCifar10(fresh(), missing, "tar.gz"), { recordsPerFile: RECORDS }),
    ).rejects.toThrow(
      /cifar-10-binary\.tar\.gz: no data_batch_4\.bin in it \(found data_batch_1\.bin, data_batch_2\.bin, data_batch_3\.bin, data_batch_5\.bin, test_batch\.bin/,
    );
    const dir = fresh();
    mkdirSync(dir);
    const whole = gzipSync(tarArchive([...files].map(([name, bytes]) => ({ name, bytes }))));
    writeFileSync(join(dir, "cut.tar.gz"), whole.subarray(0, whole.length / 2));
    await expect(readCifar10(join(dir, "cut.tar.gz"), { recordsPerFile: RECORDS })).rejects.toThrow(
      /cut\.tar\.gz: not a readable \.tar\.gz or \.tar archive/,
    );
    writeFileSync(join(dir, "junk.tar"), Buffer.alloc(2048, 65));
    await expect(readCifar10(join(dir, "junk.tar"))).rejects.toThrow(
      /junk\.tar: not a readable .*bad tar header checksum/,
    );
    await expect(readCifar10(join(dir, "nope.tar.gz"))).rejects.toThrow(
      /nope\.tar\.gz: cannot read the CIFAR-10 archive/,
    );
    await expect(readCifar10(dir, { recordsPerFile: 0 })).rejects.toThrow(
      /recordsPerFile must be an integer in 1…10000, got 0/,
    );
  });
});

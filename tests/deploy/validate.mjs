// Validates Kubernetes objects against the API's OpenAPI schemas with kubernetes-models.
// Input: a JSON array of objects on stdin. Output: one JSON line per object,
// {"kind", "name", "ok", "error"}; exit 1 when any object is invalid or of an unknown kind.
import { readFileSync } from "node:fs";

const objects = JSON.parse(readFileSync(0, "utf8"));
let failed = false;
for (const object of objects) {
  const { apiVersion = "", kind = "" } = object;
  const name = object.metadata?.name ?? "";
  let error = null;
  try {
    // "apps/v1" -> kubernetes-models/apps/v1/Deployment, "v1" -> kubernetes-models/v1/Service
    const module = await import(`kubernetes-models/${apiVersion}/${kind}`);
    const Model = module[kind] ?? module.default;
    if (typeof Model !== "function") throw new Error(`no model for ${apiVersion} ${kind}`);
    new Model(object).validate();
  } catch (e) {
    error = String(e?.message ?? e);
  }
  if (error !== null) failed = true;
  console.log(JSON.stringify({ kind, name, ok: error === null, error }));
}
process.exit(failed ? 1 : 0);

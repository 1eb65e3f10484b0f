// validate.mjs — checks Kubernetes objects against the OpenAPI schema the npm package
// kubernetes-models carries, strictly: unknown fields are refused, as
// `kubectl apply --validate=strict` would refuse them.
//
//   node tests/deploy/validate.mjs [FILE]    FILE (or stdin): a JSON array of objects
//   KMON_NODE_MODULES=DIR                    where kubernetes-models is (web/node_modules)
//
// Two checks per object:
// 1. the model's own validator (types, enums, required fields), as
//    `new Deployment(obj).validate()` runs it;
// 2. unknown fields. The package's validators are compiled from the OpenAPI JSON schema
//    (ajv standalone code; the package ships no schema document) and, like the schema,
//    let unknown properties through. But the compiled code reads every property its
//    schema declares (`void 0 !== data.spec`), and walks map-typed objects (labels,
//    resources.limits) with `for (key in data)`. So the validator runs once more on a
//    proxy of the object that records each property read and each object walked: a
//    property of an object that is present but was never read, in an object that was not
//    walked as a map, is one its schema does not list. An object the schema leaves
//    free-form (nothing read, nothing walked) is accepted whole.
// Each problem is printed as `<kind>/<namespace>/<name>: <path>: <message>`; the exit
// status is 1 when there is any, 2 on bad input.
import { readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const modules = process.env.KMON_NODE_MODULES || join(here, "../../web/node_modules");

function objectName(o) {
    const m = (o && o.metadata) || {};
    return `${(o && o.kind) || "?"}/${m.namespace || "-"}/${m.name || "?"}`;
}

// The model class of an object: kubernetes-models/<group>/<version> (core: /v1).
async function modelOf(o) {
    if (typeof o.apiVersion !== "string" || typeof o.kind !== "string")
        throw new Error("apiVersion and kind must be strings");
    const parts = o.apiVersion.split("/");
    const sub = parts.length === 1 ? parts[0] : `${parts[0]}/${parts[1]}`;
    const file = join(modules, "kubernetes-models", sub, "index.js");
    let mod;
    try {
        mod = await import(pathToFileURL(file).href);
    } catch (e) {
        throw new Error(`no model for apiVersion ${o.apiVersion} (${file}: ${e.code || e.message})`);
    }
    const cls = mod[o.kind];
    if (typeof cls !== "function" || typeof cls.prototype.validate !== "function")
        throw new Error(`no model for ${o.apiVersion} ${o.kind}`);
    return cls;
}

// A deep proxy recording, per object, the properties read and whether it was walked.
function recorder() {
    const seen = new Map(); // target -> { read: Set, walked: bool }
    const proxies = new WeakMap();
    const entry = (t) => {
        let e = seen.get(t);
        if (!e) {
            e = { read: new Set(), walked: false };
            seen.set(t, e);
        }
        return e;
    };
    const wrap = (v) => {
        if (v === null || typeof v !== "object") return v;
        let p = proxies.get(v);
        if (p) return p;
        entry(v);
        p = new Proxy(v, {
            get(t, k, r) {
                if (typeof k === "string") entry(t).read.add(k);
                return wrap(Reflect.get(t, k, r));
            },
            has(t, k) {
                if (typeof k === "string") entry(t).read.add(k);
                return Reflect.has(t, k);
            },
            ownKeys(t) {
                entry(t).walked = true;
                return Reflect.ownKeys(t);
            },
        });
        proxies.set(v, p);
        return p;
    };
    return { wrap, seen };
}

// Own properties no read and no walk accounted for: the schema does not list them.
function unknownFields(v, seen, path, out) {
    if (v === null || typeof v !== "object") return;
    if (Array.isArray(v)) {
        v.forEach((x, i) => unknownFields(x, seen, `${path}/${i}`, out));
        return;
    }
    const e = seen.get(v);
    if (!e) return; // never reached by the validator: under a free-form or unknown field
    const freeForm = !e.walked && e.read.size === 0;
    for (const k of Object.keys(v)) {
        if (!e.walked && !freeForm && !e.read.has(k)) {
            out.push(`${path}/${k}: unknown field "${k}" (not in the schema)`);
            continue;
        }
        unknownFields(v[k], seen, `${path}/${k}`, out);
    }
}

export async function validateObject(o) {
    const problems = [];
    if (o === null || typeof o !== "object" || Array.isArray(o))
        return ["/: not an object"];
    let cls;
    try {
        cls = await modelOf(o);
    } catch (e) {
        return [`/: ${e.message}`];
    }
    try {
        new cls(o).validate();
    } catch (e) {
        problems.push(`/: ${e.message}`);
    }
    const { wrap, seen } = recorder();
    try {
        cls.prototype.validate.call(wrap(o));
    } catch {
        // reported above
    }
    unknownFields(o, seen, "", problems);
    return problems;
}

async function main() {
    let text;
    try {
        text = readFileSync(process.argv[2] || 0, "utf8");
    } catch (e) {
        console.error(`validate: ${e.message}`);
        process.exit(2);
    }
    let objects;
    try {
        objects = JSON.parse(text);
    } catch (e) {
        console.error(`validate: the input is not JSON: ${e.message}`);
        process.exit(2);
    }
    if (!Array.isArray(objects)) {
        console.error("validate: the input must be a JSON array of objects");
        process.exit(2);
    }
    let bad = 0;
    for (const o of objects) {
        for (const p of await validateObject(o)) {
            console.log(`${objectName(o)}: ${p}`);
            bad++;
        }
    }
    console.log(`validate: ${objects.length} objects, ${bad} problems`);
    process.exit(bad ? 1 : 0);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();

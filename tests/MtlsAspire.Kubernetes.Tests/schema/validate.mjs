#!/usr/bin/env node
// Validates Kubernetes manifests offline: every document of every multi-document YAML file named on the command line
// (or of stdin, with no file or "-") against the schema of its apiVersion and kind, from kubernetes-models
// (the Kubernetes OpenAPI schemas) and @kubernetes-models/cert-manager (cert-manager's CRD schemas).
//
//   node validate.mjs manifests/*.yaml        kubectl kustomize DIR | node validate.mjs
//
// Prints, on stdout and in input order, "ok Kind namespace/name" per valid object and each problem of an invalid one as
// "error FILE:LINE document N Kind namespace/name: /json/pointer message". Exit 0: all valid; 1: problems found;
// 2: the check itself could not run (unreadable file, broken install; said on stderr).
//
// Beyond what the kubernetes-models validators check (types, enums, required fields), this refuses:
//  - a field the schema does not have (a typo: the validators accept any extra property; see unknownFields),
//  - an apiVersion/kind with no schema here (never skipped: add its group to `groups` below),
//  - a document that is not a mapping, an object without metadata.name, the same object twice.
// YAML is read as YAML 1.1, the way kubectl reads it (`yes` is a boolean, `0644` is octal), keys must be unique.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const exit = { problems: 1, broken: 2 };

let yaml, groups;
try {
    yaml = await import("yaml");
    groups = [
        await import("kubernetes-models/v1"),
        await import("kubernetes-models/apps/v1"),
        await import("kubernetes-models/batch/v1"),
        await import("kubernetes-models/networking.k8s.io/v1"),
        await import("kubernetes-models/rbac.authorization.k8s.io/v1"),
        await import("kubernetes-models/policy/v1"),
        await import("@kubernetes-models/cert-manager/cert-manager.io/v1"),
    ];
} catch (error) {
    const directory = fileURLToPath(new URL(".", import.meta.url));
    console.error(`validate.mjs cannot load its packages (run "npm ci --no-audit --no-fund" in ${directory}): ${error.message}`);
    process.exit(exit.broken);
}

// "apiVersion kind" -> model class. A group module exports every type of the group; the top-level kinds are the
// classes with a static apiVersion and kind (each also exported under a long alias: same class, same key).
const models = new Map();
for (const group of groups) {
    for (const value of Object.values(group)) {
        if (typeof value === "function" && typeof value.apiVersion === "string" && typeof value.kind === "string") {
            models.set(`${value.apiVersion} ${value.kind}`, value);
        }
    }
}
const knownApiVersions = [...new Set([...models.values()].map((model) => model.apiVersion))];

// The validators are ajv code compiled from the schemas, without additionalProperties: false, so they accept any
// unknown field. They do read every property their schema declares (`data.replicas === undefined || check it`), and
// enumerate the keys of a map (labels, data). So the object is handed to validate() behind a proxy that records, per
// object, which properties were read and whether its keys were enumerated; afterwards a key the validator never read
// of an object it read by name is a field the schema does not have.
function tracked(root) {
    const records = new WeakMap();
    const proxies = new WeakMap();
    const wrap = (value) => {
        if (value === null || typeof value !== "object") {
            return value;
        }
        let proxy = proxies.get(value);
        if (proxy === undefined) {
            const record = { read: new Set(), enumerated: false };
            records.set(value, record);
            proxy = new Proxy(value, {
                get(target, key) {
                    if (typeof key === "string") {
                        record.read.add(key);
                    }
                    return wrap(Reflect.get(target, key));
                },
                has(target, key) {
                    if (typeof key === "string") {
                        record.read.add(key);
                    }
                    return Reflect.has(target, key);
                },
                ownKeys(target) {
                    record.enumerated = true;
                    return Reflect.ownKeys(target);
                },
            });
            proxies.set(value, proxy);
        }
        return proxy;
    };
    return { proxy: wrap(root), records };
}

function unknownFields(value, path, records, found) {
    const record = value !== null && typeof value === "object" ? records.get(value) : undefined;
    if (record === undefined) {
        return; // a scalar, or never looked at: free-form (no schema) or under a field already reported
    }
    if (Array.isArray(value)) {
        value.forEach((item, index) => unknownFields(item, `${path}/${index}`, records, found));
        return;
    }
    // Read by name and not enumerated: an object with declared properties. Read nothing: free-form, or not an
    // object where the schema wants one (the validator reports that itself).
    const declared = record.enumerated || record.read.size === 0 ? undefined : record.read;
    for (const key of Object.keys(value)) {
        const keyPath = `${path}/${key.replaceAll("~", "~0").replaceAll("/", "~1")}`;
        if (declared !== undefined && !declared.has(key)) {
            const near = nearest(key, declared);
            found.push({ path: keyPath, message: `unknown field "${key}"${near ? ` (did you mean "${near}"?)` : ""}` });
        } else {
            unknownFields(value[key], keyPath, records, found);
        }
    }
}

function nearest(key, candidates) {
    let best, bestDistance = Infinity;
    for (const candidate of candidates) {
        const distance = candidate.toLowerCase() === key.toLowerCase() ? 0 : editDistance(key, candidate);
        if (distance < bestDistance) {
            best = candidate;
            bestDistance = distance;
        }
    }
    return bestDistance <= Math.max(2, Math.floor(key.length / 4)) ? best : undefined;
}

function editDistance(a, b) {
    // Optimal string alignment: an adjacent transposition (contianers) costs one.
    const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
    for (let j = 1; j <= b.length; j++) {
        d[0][j] = j;
    }
    for (let i = 1; i <= a.length; i++) {
        for (let j = 1; j <= b.length; j++) {
            const cost = a[i - 1] === b[j - 1] ? 0 : 1;
            d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
            if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
                d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
            }
        }
    }
    return d[a.length][b.length];
}

function schemaProblems(model, object) {
    const instance = new model(object);
    const { proxy, records } = tracked(instance);
    const problems = [];
    try {
        model.prototype.validate.call(proxy); // the class's own validate(), reading the object through the proxy
    } catch (error) {
        if (!Array.isArray(error.errors)) {
            throw error;
        }
        for (const e of error.errors) {
            const message = e.message ?? `${e.keyword} ${JSON.stringify(e.params)}`;
            const allowed = e.keyword === "enum" ? `: ${e.params.allowedValues.map((v) => JSON.stringify(v)).join(", ")}` : "";
            problems.push({ path: e.instancePath, message: message + allowed });
        }
    }
    unknownFields(instance, "", records, problems);
    return problems;
}

// YAML 1.1 as kubectl reads it, except that a date stays a string (kubectl turns it into a string again).
const parseOptions = {
    version: "1.1",
    uniqueKeys: true,
    prettyErrors: true,
    customTags: (tags) => tags.filter((tag) => tag.tag !== "tag:yaml.org,2002:timestamp"),
};

function lineOf(document, lineCounter, pointer) {
    const segments = pointer.split("/").slice(1).map((s) => s.replaceAll("~1", "/").replaceAll("~0", "~"));
    // The deepest node on the path that exists (a missing required field points at its parent already).
    for (let length = segments.length; length >= 0; length--) {
        try {
            const keys = segments.slice(0, length).map((s) => (/^\d+$/.test(s) ? Number(s) : s));
            const node = length === 0 ? document.contents : document.getIn(keys, true);
            if (node?.range) {
                return lineCounter.linePos(node.range[0]).line;
            }
        } catch {
            // not a plain path (an alias on the way): try its parent
        }
    }
    return lineCounter.linePos(document.range[0]).line;
}

function readInputs(args) {
    const files = args.length === 0 ? ["-"] : args;
    return files.map((file) => {
        try {
            return { file: file === "-" ? "<stdin>" : file, text: readFileSync(file === "-" ? 0 : file, "utf8") };
        } catch (error) {
            console.error(`validate.mjs cannot read ${file}: ${error.message}`);
            process.exit(exit.broken);
        }
    });
}

// The problems of one object (a mapping): its schema's, a missing name and a second copy of the same object.
function objectProblems(object, where, seen) {
    const model = models.get(`${object.apiVersion} ${object.kind}`);
    if (model === undefined) {
        if (typeof object.apiVersion !== "string" || typeof object.kind !== "string") {
            return [{ path: "", message: "apiVersion and kind are required" }];
        }
        if (knownApiVersions.includes(object.apiVersion)) {
            return [{ path: "/kind", message: `unknown kind "${object.kind}" in ${object.apiVersion}: no schema to validate it against` }];
        }
        return [{
            path: "/apiVersion",
            message: `unknown apiVersion "${object.apiVersion}" (kind ${object.kind}): no schema to validate it against; known: ${knownApiVersions.join(", ")}`,
        }];
    }

    const problems = schemaProblems(model, object);
    const name = object.metadata?.name;
    if (typeof name !== "string" || name === "") {
        problems.push({ path: "/metadata", message: "metadata.name is required" });
        return problems;
    }
    const id = `${object.apiVersion} ${object.kind} ${object.metadata.namespace ?? ""}/${name}`;
    if (seen.has(id)) {
        problems.push({ path: "", message: `the same object is also at ${seen.get(id)}` });
    } else {
        seen.set(id, where);
    }
    return problems;
}

function describe(object) {
    const kind = typeof object.kind === "string" ? object.kind : "(no kind)";
    const name = typeof object.metadata?.name === "string" && object.metadata.name !== "" ? object.metadata.name : "(no name)";
    const namespace = object.metadata?.namespace;
    return `${kind} ${typeof namespace === "string" ? `${namespace}/` : ""}${name}`;
}

function main(args) {
    let documentsSeen = 0;
    let invalid = 0;
    const seen = new Map(); // "apiVersion kind namespace/name" -> where it was first
    for (const { file, text } of readInputs(args)) {
        const lineCounter = new yaml.LineCounter();
        const documents = yaml.parseAllDocuments(text, { ...parseOptions, lineCounter });
        let index = 0;
        for (const document of documents) {
            index++;
            const at = (line) => `${file}:${line} document ${index}`;
            const startLine = lineCounter.linePos(document.range[0]).line;
            // Warnings too (an unresolved tag, say): what kubectl would make of such a document is anybody's guess.
            let yamlProblems = [...document.errors, ...document.warnings];
            let object;
            if (yamlProblems.length === 0) {
                try {
                    object = document.toJS({ maxAliasCount: 100 });
                } catch (error) {
                    yamlProblems = [error];
                }
            }
            if (yamlProblems.length > 0) {
                documentsSeen++;
                invalid++;
                for (const problem of yamlProblems) {
                    const message = problem.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
                    console.log(`error ${at(problem.linePos?.[0]?.line ?? startLine)}: YAML: ${message}`);
                }
                continue;
            }
            if (object === null || object === undefined) {
                continue; // an empty document (a trailing ---, only comments): kubectl skips it too
            }
            documentsSeen++;
            if (typeof object !== "object" || Array.isArray(object)) {
                invalid++;
                console.log(`error ${at(startLine)}: the document is a ${Array.isArray(object) ? "sequence" : typeof object}, not a Kubernetes object`);
                continue;
            }

            const problems = objectProblems(object, at(startLine), seen);
            if (problems.length === 0) {
                console.log(`ok ${describe(object)}`);
                continue;
            }
            invalid++;
            for (const problem of problems) {
                console.log(`error ${at(lineOf(document, lineCounter, problem.path))} ${describe(object)}: ${problem.path || "/"} ${problem.message}`);
            }
        }
    }

    if (documentsSeen === 0) {
        console.log("error: no Kubernetes objects in the input");
        return exit.problems;
    }
    if (invalid > 0) {
        console.log(`${invalid} of ${documentsSeen} document(s) invalid`);
        return exit.problems;
    }
    return 0;
}

try {
    process.exitCode = main(process.argv.slice(2));
} catch (error) {
    console.error(`validate.mjs failed: ${error.stack ?? error}`);
    process.exitCode = exit.broken;
}

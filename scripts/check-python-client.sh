#!/usr/bin/env bash
# Generates a Python client from openapi.yaml with openapi-python-client (PyPI) and fails when the
# generator warns, or when an operation or a component schema is missing from what it generated:
# a spec that client generators mangle is not a usable contract (issue 13).
# Needs openapi-python-client on PATH (.ci/run installs the pinned version).
set -euo pipefail
base="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
if ! openapi-python-client generate --path "$base/openapi.yaml" --config "$base/scripts/openapi-python-client.yaml" \
  --meta none --output-path client >"$work/log" 2>&1; then
  cat "$work/log"; echo "python client: generation failed" >&2; exit 1
fi
if grep -qiE "warning|unable|removal|not be generated" "$work/log"; then
  cat "$work/log"; echo "python client: the generator warned (above)" >&2; exit 1
fi
python3 - "$base/openapi.yaml" client <<'PY'
import glob, os, sys
import yaml

spec = yaml.safe_load(open(sys.argv[1]))
root = sys.argv[2]
norm = lambda name: name.replace("_", "").lower()
modules = {norm(os.path.basename(f)[:-3]) for f in glob.glob(f"{root}/api/*/*.py")}
models = {norm(os.path.basename(f)[:-3]) for f in glob.glob(f"{root}/models/*.py")}
operations = [op["operationId"] for item in spec["paths"].values() for op in item.values() if isinstance(op, dict) and "operationId" in op]
missing = [op for op in operations if norm(op) not in modules]
schemas = spec["components"]["schemas"]
# An array schema becomes list[...] of its items' model, not a model of its own.
unmodelled = [name for name, schema in schemas.items()
              if schema.get("type") != "array" and not any(model == norm(name) or model.startswith(norm(name) + "type") for model in models)]
print(f"python client: {len(operations) - len(missing)}/{len(operations)} operations, "
      f"{len(schemas) - len(unmodelled)}/{len(schemas)} component schemas generated")
if missing or unmodelled:
    print(f"python client: missing operations {missing}, schemas {unmodelled}", file=sys.stderr)
    sys.exit(1)
PY

#!/usr/bin/env python3
"""An independent check of FHIR JSON: every resource read by the PyPI package fhir.resources
(its R4B models, pydantic-validated), and a FHIR package's own files against the package
specification's required fields. Arguments: .tgz packages, directories, or .json files (a file
may hold one resource or a JSON list of them). Exit 0 when all pass; else each problem is
printed and the exit code is 1. Run by the tests (tests/cli.rs, tests/suite/apply.rs)."""

import io
import json
import sys
import tarfile
from pathlib import Path

from fhir.resources.R4B import get_fhir_model_class

PACKAGE_REQUIRED = ["name", "version", "fhirVersions", "type", "canonical", "url", "dependencies"]


def resources_of(name, data):
    items = data if isinstance(data, list) else [data]
    for i, item in enumerate(items):
        yield (f"{name}[{i}]" if isinstance(data, list) else name), item


def check_resource(name, resource, problems):
    kind = resource.get("resourceType") if isinstance(resource, dict) else None
    if not kind:
        problems.append(f"{name}: no resourceType")
        return
    try:
        get_fhir_model_class(kind).model_validate(resource)
    except Exception as error:  # pydantic's ValidationError, or an unknown type
        problems.append(f"{name}: {kind}: {str(error)[:800]}")


def check_package(files, problems):
    """files: {path inside the archive: bytes}."""
    manifest = json.loads(files.get("package/package.json", b"{}"))
    for key in PACKAGE_REQUIRED:
        if key not in manifest:
            problems.append(f"package/package.json: no '{key}'")
    for index_path in [p for p in files if p.endswith(".index.json")]:
        index = json.loads(files[index_path])
        if index.get("index-version") != 2:
            problems.append(f"{index_path}: index-version is not 2")
        folder = index_path.rsplit("/", 1)[0]
        listed = set()
        for entry in index.get("files", []):
            path = f"{folder}/{entry.get('filename')}"
            listed.add(path)
            if path not in files:
                problems.append(f"{index_path}: {entry.get('filename')} is not in the package")
                continue
            resource = json.loads(files[path])
            for key in ["resourceType", "id", "url", "version"]:
                if key in entry and entry[key] != resource.get(key):
                    problems.append(f"{index_path}: {entry['filename']}: {key} {entry[key]!r} is not the file's {resource.get(key)!r}")
        for path in files:
            if path.startswith(folder + "/") and path.count("/") == folder.count("/") + 1 and path.endswith(".json") \
                    and not path.endswith("package.json") and not path.endswith(".index.json") and path not in listed:
                problems.append(f"{index_path}: {path} is not indexed")
    for path, data in sorted(files.items()):
        if path.endswith(".json") and not path.endswith("package.json") and not path.endswith(".index.json"):
            check_resource(path, json.loads(data), problems)


def main(paths):
    problems, checked = [], 0
    for arg in paths:
        path = Path(arg)
        if path.suffix == ".tgz":
            with tarfile.open(path, "r:gz") as archive:
                files = {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}
            check_package(files, problems)
            checked += sum(1 for p in files if p.endswith(".json"))
            continue
        for file in sorted(path.rglob("*.json")) if path.is_dir() else [path]:
            for name, resource in resources_of(str(file), json.loads(file.read_text())):
                check_resource(name, resource, problems)
                checked += 1
    for problem in problems:
        print(problem)
    print(f"validate-fhir: {checked} checked, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

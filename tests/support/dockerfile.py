"""The Dockerfile read as Docker reads it: its instructions, and the tree its COPYs make in the image."""

import fnmatch
import glob
import os
import shutil


def read_text(path):
    with open(path, encoding="utf-8") as file:
        return file.read()


def dockerfile_instructions(path):
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    instructions, current = [], ""
    for line in read_text(path).splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        keyword, _, arguments = (current + line).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        current = ""
    return instructions


def arguments_of(instructions, keyword):
    return [arguments for name, arguments in instructions if name == keyword]


def docker_ignored(repo_root):
    patterns = [line.strip() for line in read_text(os.path.join(repo_root, ".dockerignore")).splitlines()]
    patterns = [pattern for pattern in patterns if pattern and not pattern.startswith("#")]

    def ignored(relative):
        parts = relative.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        return any(fnmatch.fnmatch(prefix, pattern) or fnmatch.fnmatch(prefix, pattern.removeprefix("**/"))
                   or fnmatch.fnmatch(part, pattern.removeprefix("**/")) for pattern in patterns
                   for prefix, part in zip(prefixes, parts))

    return ignored


def copy_source(repo_root, source, target, ignored):
    """Docker's COPY of one existing source: a directory's contents, or one file."""
    relative = os.path.relpath(source, repo_root)
    if ignored(relative):
        return
    if os.path.isdir(source):
        for name in os.listdir(source):
            copy_source(repo_root, os.path.join(source, name), os.path.join(target, name), ignored)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(source, target)


def build_image_tree(repo_root, root):
    """What the Dockerfile's WORKDIR and COPY instructions put in the image, under ``root``."""
    instructions = dockerfile_instructions(os.path.join(repo_root, "Dockerfile"))
    workdir = arguments_of(instructions, "WORKDIR")[-1]
    app_dir = os.path.join(root, workdir.lstrip("/"))
    ignored = docker_ignored(repo_root)
    for arguments in arguments_of(instructions, "COPY"):
        *sources, destination = [word for word in arguments.split() if not word.startswith("--")]
        target_dir = os.path.join(app_dir, destination)
        for pattern in sources:
            matches = glob.glob(os.path.join(repo_root, pattern))
            assert matches, f"COPY {pattern}: nothing in the repository matches"
            for source in matches:
                into_dir = destination.endswith("/") or len(sources) > 1 or "*" in pattern
                target = os.path.join(target_dir, os.path.basename(source.rstrip("/"))) if (
                    into_dir and not os.path.isdir(source)) else target_dir
                copy_source(repo_root, source, target, ignored)
    return workdir, app_dir

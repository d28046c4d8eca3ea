"""fsync helpers: what makes a new file, a renamed folder or an appended record survive a crash."""

import os


def fsync_directory(path):
    """Make a new or renamed directory entry durable."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def fsync_tree(folder):
    """fsync every file and directory under ``folder``."""
    for root, _, files in os.walk(folder):
        for name in files:
            descriptor = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        fsync_directory(root)

"""The output directory: the only code that writes, and the layout it writes.

An identity's files are replaced as a group: new files are staged beside the
live ones as `<name>/.pending.<file>` and flushed to disk, a COMMIT marker
(`.pending.COMMIT`) makes the group final,
then each old file is moved to `archive/<stamp>/` and the new one renamed into
place. A crash before COMMIT leaves the old files untouched (the staging is
discarded on the next run); a crash after it is rolled forward by `recover()`.
Many identities share each flush (`replace_batch`), so durability costs three
file-system syncs per batch instead of one fsync per file.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import os
import shutil
import stat
import time
from collections.abc import (
    Callable,
    Collection,
    Container,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from pathlib import Path
from typing import Any

from pkiform.errors import LockBusy, StoreError
from pkiform.layout import (
    ARCHIVE,
    CERT_FILE,
    COMMIT,
    GIT_FILES,
    IDENTITY_FOLDER,
    KEY_FILE,
    LOCK,
    MANIFEST,
    NEW,
    PENDING,
    PRIVATE_FILES,
    REVOCATION_FILES,
    TRUST_BUNDLE,
)

_PRIVATE = 0o600
_PUBLIC = 0o644
_OWNER = 0o700  # what a private file may grant: nothing to its group or to others
# one read holds any file pkiform writes but a large CRL or PKCS#12 bundle
_READ_SIZE = 1 << 16
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
# the names in an identity's folder that pkiform reads or writes: none may be a link
_OWN_NAMES = frozenset((*IDENTITY_FOLDER, ARCHIVE))
_LINK = "is a symlink; pkiform does not follow links"
_HOLDER_RETRIES = 3


class Store:
    """One output directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        # folder listings recover() made and left as they were, for read_identity to use
        # once instead of listing again (an apply lists every folder in both)
        self._listed: dict[str, list[os.DirEntry[str]]] = {}

    # -- reading ---------------------------------------------------------------

    def exists(self) -> bool:
        return self.root.is_dir()

    def check_usable(self) -> None:
        """Raise the StoreError an apply would raise on creating or entering the output
        directory (`_mkdir`: a link or a file in its place, a file on its way), without
        creating anything: plan refuses what apply would refuse."""
        try:
            st = self.root.lstat()
        except FileNotFoundError:
            return  # apply creates it, and its missing parents
        except OSError as e:  # ENOTDIR: a file on the way, where mkdir -p fails the same
            raise StoreError(f"{self.root}: cannot create: {e.strerror}") from e
        if stat.S_ISLNK(st.st_mode):
            raise StoreError(f"{self.root}: {_LINK}")
        if not stat.S_ISDIR(st.st_mode):
            raise StoreError(f"{self.root}: exists and is not a directory")

    def read(self, name: str, filename: str) -> bytes | None:
        """A file's bytes, or None when it is absent. Never follows a symlink."""
        return self._read(self.root / name / filename)

    def _read(self, path: Path | str) -> bytes | None:
        try:
            fd = os.open(path, _READ_FLAGS)
        except FileNotFoundError:
            return None
        except NotADirectoryError:
            return None
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise StoreError(f"{path}: {_LINK}") from e
            raise StoreError(f"{path}: cannot read: {e.strerror}") from e
        try:  # os.read, not a file object: a third of the cost on 5 files an identity
            return _read_all(fd)
        except OSError as e:
            raise StoreError(f"{path}: cannot read: {e.strerror}") from e
        finally:
            os.close(fd)

    def read_identity(self, name: str) -> tuple[dict[str, bytes], bool]:
        """The layout files of one identity that exist, and whether an interrupted
        replacement is pending there. One directory listing, then only real files are
        opened: a missing file costs nothing."""
        folder = self.root / name
        self._check_not_link(folder)
        entries = self._listed.pop(name, None)
        if entries is None:
            try:
                entries = list(os.scandir(folder))
            except (FileNotFoundError, NotADirectoryError):
                return {}, False
            except OSError as e:
                raise StoreError(f"{folder}: cannot read: {e.strerror}") from e
        for entry in entries:
            # the directory listing says what is a link: refused here, before any plan is
            # made, rather than half-way through an apply that would write there
            if entry.name in _OWN_NAMES and entry.is_symlink():
                raise StoreError(f"{entry.path}: {_LINK}")
        present = {entry.name: entry.path for entry in entries}
        found = {}
        for filename in IDENTITY_FOLDER:
            if filename in present:
                data = self._read(present[filename])
                if data is not None:
                    found[filename] = data
        return found, COMMIT in present

    def absent(self, names: Iterable[str]) -> list[str]:
        """The names that have no folder in the output directory (yet)."""
        return [n for n in names if not os.path.lexists(self.root / n)]

    def read_manifest(self) -> bytes | None:
        return self._read(self.root / MANIFEST)

    def read_top(self, filename: str) -> bytes | None:
        """A file of the output directory itself (manifest.json, trust-bundle.pem)."""
        return self._read(self.root / filename)

    def names_on_disk(self, *, skip: Container[str] = ()) -> list[str]:
        """Folders that hold an identity's files (whether or not the spec names them),
        but for those in `skip` (whose files the caller reads anyway)."""
        if not self.exists():
            return []
        names = []
        for entry in sorted(os.scandir(self.root), key=lambda e: e.name):
            if entry.name == ARCHIVE and entry.is_symlink():
                raise StoreError(f"{entry.path}: {_LINK}")  # apply --prune would move folders there
            if entry.name.startswith(".") or entry.name == ARCHIVE or entry.name in skip:
                continue
            if entry.is_dir(follow_symlinks=False) and any(
                (Path(entry.path) / f).exists() for f in (KEY_FILE, CERT_FILE)
            ):
                names.append(entry.name)
        return names

    def contents(self, name: str, *, deep: bool = False) -> list[tuple[str, bytes | None]] | None:
        """Every entry of an identity's folder, sorted by name, with its bytes, a folder
        with None (and, with `deep`, followed by what it holds, as `folder/entry`); None
        when there is no such folder, or it or anything in it is a link or neither a file
        nor a folder. Paths are opened relative to their folder: a tenth of the cost of
        resolving each from the root, which a survey of every file pays 50,000 times."""
        fd = _open_folder(self.root / name)
        if fd is None:
            return None
        try:
            return _contents(fd, "", deep)
        except OSError as e:
            raise StoreError(f"{self.root / name}: cannot read: {e.strerror}") from e
        finally:
            os.close(fd)

    def loose(self, *, below: str = "") -> list[tuple[str, int]]:
        """Every file below the output directory (or its folder `below`) that holds a
        private key (live or archived, by its name) and that others than its owner may
        read or write, with its mode, by its path below the directory: what a git
        checkout leaves (0644), which apply tightens. Links are not followed (they are
        refused where pkiform reads), nor are hidden names (pkiform's staging, created
        0600) looked into."""
        found: list[tuple[str, int]] = []
        start = self.root / below if below else self.root
        fd = _open_folder(start)
        if fd is None:
            return found
        try:
            _loose(fd, f"{below}/" if below else "", found)
        except OSError as e:
            raise StoreError(f"{start}: cannot read: {e.strerror}") from e
        finally:
            os.close(fd)
        return found

    def tighten(self, paths: Iterable[str]) -> None:
        """Take every permission but the owner's from each file (paths below the output
        directory): a key checked out 0644 becomes 0600, in place, its bytes untouched."""
        for relative in paths:
            path = self.root / relative
            try:
                fd = os.open(path, _READ_FLAGS)
            except OSError as e:
                if e.errno == errno.ELOOP:
                    raise StoreError(f"{path}: {_LINK}") from e
                raise StoreError(f"{path}: cannot change its mode: {e.strerror}") from e
            try:
                os.fchmod(fd, stat.S_IMODE(os.fstat(fd).st_mode) & _OWNER)
            except OSError as e:
                raise StoreError(f"{path}: cannot change its mode: {e.strerror}") from e
            finally:
                os.close(fd)

    def archived_certs(self, name: str) -> list[bytes]:
        """Every cert.pem in the identity's archive, oldest first."""
        archive = self.root / name / ARCHIVE
        if not archive.is_dir() or archive.is_symlink():
            return []
        found = []
        for path in sorted(archive.glob("*/cert.pem*")):
            data = self._read(path)
            if data is not None:
                found.append(data)
        return found

    # -- locking ---------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self, *, timeout: float = 0.0) -> Iterator[None]:
        """Hold the directory's lock (creating the directory); wait up to `timeout` seconds."""
        self._mkdir(self.root, 0o755)
        path = self.root / LOCK
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, _PUBLIC)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise StoreError(f"{path}: {_LINK}") from e
            raise StoreError(f"{path}: cannot open the lock file: {e.strerror}") from e
        try:
            deadline = time.monotonic() + timeout
            unnamed = 0
            while True:
                try:
                    # flock is released by the kernel when its holder dies: no stale locks
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        holder = _lock_holder(fd)
                        # no holder listed: it let go between our try and the look-up, so
                        # try again (a few times: /proc/locks may be missing altogether)
                        if holder is None and unnamed < _HOLDER_RETRIES:
                            unnamed += 1
                            continue
                        by = f" (pid {holder})" if holder else ""
                        raise LockBusy(
                            f"{path} is held by another pkiform apply{by}; "
                            "wait for it to finish or pass --lock-timeout SECONDS"
                        ) from None
                    time.sleep(0.1)
            yield
        finally:
            os.close(fd)

    # -- writing ---------------------------------------------------------------

    def replace_files(self, name: str, files: Mapping[str, bytes], stamp: str) -> None:
        """Make `files` the identity's files, archiving any they replace, all or nothing."""
        self.replace_batch([(name, files)], stamp)

    def replace_batch(
        self,
        batch: Sequence[tuple[str, Mapping[str, bytes]]],
        stamp: str,
        *,
        in_place: Mapping[str, Collection[str]] | None = None,
    ) -> None:
        """replace_files for many identities, each all or nothing. Durability is paid per
        batch, not per file: one file-system sync after staging (so no COMMIT marker can
        point at unwritten data), one after the markers, one after the renames.

        `in_place` names, per identity, files whose old version is not archived: a key
        re-encrypted is the same key, and its plain copy must not linger in the archive."""
        self._listed.clear()  # what recover() listed is about to change
        in_place = in_place or {}
        merged: dict[str, dict[str, bytes]] = {}
        for name, files in batch:  # one staging per folder: later files win
            merged.setdefault(name, {}).update(files)
        groups = [(name, files) for name, files in merged.items() if files]
        if not groups:
            return
        self._mkdir(self.root, 0o755)  # as `mkdir -p` would; what is inside is private
        existing = {n for n, _ in groups if os.path.lexists(self.root / n)}
        # an identity without a folder yet is built whole under a hidden name and renamed
        # into place: one rename, no marker, and nothing to archive
        fresh = [(n, f) for n, f in groups if n not in existing]
        groups = [(n, f) for n, f in groups if n in existing]
        for name, files in groups:  # every link refused before the first write
            self._check_writable(self.root / name, files, stamp)
        for name, files in fresh:
            self._build(self.root / (NEW + name), files)
        for name, files in groups:
            self._stage(self.root / name, files)
        self._sync()
        markers: dict[str, dict[str, Any]] = {}
        for name, files in groups:
            content = markers[name] = {"archive": stamp, "files": sorted(files)}
            overwritten = sorted(set(in_place.get(name, ())) & files.keys())
            if overwritten:
                content["in_place"] = overwritten
            marker = json.dumps(content).encode()
            self._write_new(self.root / name / COMMIT, marker, _PUBLIC)
        if groups:
            self._sync()
        for name, _ in fresh:
            self._rename(self.root / (NEW + name), self.root / name)
        for name, _ in groups:
            self._finish(self.root / name, markers[name])
        self._sync()

    def _check_writable(self, folder: Path, files: Collection[str], stamp: str) -> None:
        """Refuse a link where replacing `files` in an existing folder would write or
        archive."""
        self._check_not_link(folder)
        archive = folder / ARCHIVE
        for path in (archive, archive / stamp, *(folder / f for f in files)):
            self._check_not_link(path)

    def _build(self, folder: Path, files: Mapping[str, bytes]) -> None:
        """A new identity's folder, complete, under its hidden name."""
        if os.path.lexists(folder):
            _remove_unfinished(folder)
        try:
            folder.mkdir(mode=0o700)
        except OSError as e:
            raise StoreError(f"{folder}: cannot create: {e.strerror}") from e
        for filename, data in files.items():
            self._write_new(folder / filename, data, _mode(filename))

    def _stage(self, folder: Path, files: Mapping[str, bytes]) -> None:
        self._mkdir(folder, 0o700)
        if _staged(folder):
            self._finish_or_discard(folder)
            self._sync()
        for filename, data in files.items():
            self._write_new(folder / (PENDING + filename), data, _mode(filename))

    def recover(self) -> list[str]:
        """Finish or discard every interrupted replacement; return the folders it touched."""
        touched: list[str] = []
        if not self.exists():
            return touched
        self._listed.clear()
        for entry in sorted(os.scandir(self.root), key=lambda e: e.name):
            folder = Path(entry.path)
            if entry.name.startswith(NEW):  # a new identity never renamed into place
                _remove_unfinished(folder)
                touched.append(entry.name)
            elif entry.is_dir(follow_symlinks=False):
                listing = _listing(folder)
                if any(e.name.startswith(PENDING) for e in listing):
                    self._finish_or_discard(folder)
                    touched.append(entry.name)
                else:
                    self._listed[entry.name] = listing
        for top in (MANIFEST, TRUST_BUNDLE, *GIT_FILES):
            for leftover in self.root.glob(f".{top}.*.tmp"):
                leftover.unlink()
        if touched:
            self._sync()
        return touched

    def retire(self, name: str, stamp: str) -> Path:
        """Move an identity's whole folder to DIR/archive/<stamp>/<name>."""
        self._listed.clear()
        folder = self.root / name
        self._check_not_link(folder)
        archive = self.root / ARCHIVE / stamp
        self._mkdir(archive, 0o700)  # refuses a link at DIR/archive or at the stamp
        target = _unused(archive / name)
        self._rename(folder, target)
        _fsync_dir(archive)
        _fsync_dir(self.root)
        return target

    def withdraw(self, name: str, filenames: Iterable[str], stamp: str) -> None:
        """Move files of an identity to its archive/<stamp>/ with nothing in their place
        (a file the spec no longer asks for, such as a cross certificate whose rotation is
        over). One rename each: a crash leaves each file live or archived, and the next
        plan archives what is still live."""
        self._listed.clear()
        folder = self.root / name
        present = [f for f in filenames if os.path.lexists(folder / f)]
        if not present:
            return
        self._check_writable(folder, present, stamp)
        archive = folder / ARCHIVE / stamp
        self._mkdir(archive, 0o700)
        for filename in present:
            self._rename(folder / filename, _unused(archive / filename))
        _fsync_dir(archive)
        _fsync_dir(folder)

    def write_manifest(self, data: bytes) -> bool:
        """Write manifest.json if its content changed; True when it did."""
        return self.write_top(MANIFEST, data)

    def write_top(self, filename: str, data: bytes) -> bool:
        """Write a file of the output directory itself if its content changed; True when
        it did. Public files only: nothing written here is archived."""
        if self.read_top(filename) == data:
            return False
        tmp = self.root / f".{filename}.{os.getpid()}.tmp"
        self._write_new(tmp, data, _PUBLIC)
        self._sync()
        self._rename(tmp, self.root / filename)
        self._sync()
        return True

    def _read_marker(self, folder: Path) -> dict[str, Any] | None:
        """The COMMIT marker, or None when there is none or it was cut short by a crash
        (it is written after the staged files are on disk, so then they are discarded)."""
        path = folder / COMMIT
        data = self._read(path)
        try:
            marker = json.loads(data) if data is not None else None
        except ValueError:
            return None
        if marker is None:
            return None
        # whole JSON is no crash's doing; it may only name files pkiform writes
        if not (
            isinstance(marker, dict)
            and isinstance(marker.get("files"), list)
            and all(f in IDENTITY_FOLDER for f in marker["files"])
            and isinstance(marker.get("in_place", []), list)
            and all(f in marker["files"] for f in marker.get("in_place", []))
            and isinstance(marker.get("archive"), str)
            and marker["archive"].isalnum()
        ):
            raise StoreError(f"{path}: not a marker pkiform wrote; remove it to go on")
        return marker

    def _finish_or_discard(self, folder: Path) -> None:
        marker = self._read_marker(folder)
        if marker is not None:
            self._finish(folder, marker)
            return
        # staged but never committed: none of it was ever live, so it goes
        for leftover in _staged(folder):
            leftover.unlink()

    def _finish(self, folder: Path, marker: Mapping[str, Any]) -> None:
        """Swap a committed staging into place; idempotent, so a crash here is finished
        by running it again. The caller syncs."""
        archive = folder / ARCHIVE / marker["archive"]
        unarchived = {*REVOCATION_FILES, *marker.get("in_place", [])}
        for filename in marker["files"]:
            staged = folder / (PENDING + filename)
            if not os.path.lexists(staged):
                continue  # moved into place before an interruption
            live = folder / filename
            self._check_not_link(staged)
            self._check_not_link(live)
            if os.path.lexists(live) and filename not in unarchived:
                self._mkdir(archive, 0o700)
                self._rename(live, _unused(archive / filename))
            self._rename(staged, live)
        listed = {PENDING + f for f in marker["files"]}
        for leftover in _staged(folder):  # staged by no one this marker speaks for
            if leftover.name != COMMIT and leftover.name not in listed:
                leftover.unlink()
        (folder / COMMIT).unlink()

    def _write_new(self, path: Path, data: bytes, mode: int) -> None:
        # O_EXCL + mode at creation: a key is never readable by others, not even briefly
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(path, flags, mode)
        except FileExistsError:
            path.unlink()
            fd = os.open(path, flags, mode)
        except OSError as e:
            raise StoreError(f"{path}: cannot write: {e.strerror}") from e
        try:
            _write_all(fd, data)
        except OSError as e:
            raise StoreError(f"{path}: cannot write: {e.strerror}") from e
        finally:
            os.close(fd)

    def _sync(self) -> None:
        _syncfs(self.root)

    def _rename(self, src: Path, dst: Path) -> None:
        try:
            src.replace(dst)
        except OSError as e:
            raise StoreError(f"{dst}: cannot move into place: {e.strerror}") from e

    def _mkdir(self, path: Path, mode: int) -> None:
        """Create `path` with `mode`, and every missing folder between it and the output
        directory with `mode` too (mkdir's `parents` would give those the umask's default,
        0777 under umask 0); a link anywhere on the way is refused."""
        below = path.relative_to(self.root).parts
        steps = [self.root] + [self.root.joinpath(*below[: i + 1]) for i in range(len(below))]
        for step in steps:
            try:
                if step == self.root:  # its parents are the user's: created as mkdir -p does
                    step.mkdir(mode=mode if path == self.root else 0o755, parents=True)
                else:
                    step.mkdir(mode=mode)
                continue
            except FileExistsError:
                pass  # mkdir never follows a link: what is there is checked below
            except OSError as e:
                raise StoreError(f"{step}: cannot create: {e.strerror}") from e
            try:
                st = step.lstat()
            except OSError as e:
                raise StoreError(f"{step}: cannot read: {e.strerror}") from e
            if stat.S_ISLNK(st.st_mode):
                raise StoreError(f"{step}: {_LINK}")
            if not stat.S_ISDIR(st.st_mode):
                raise StoreError(f"{step}: exists and is not a directory")

    def _check_not_link(self, path: Path) -> None:
        if path.is_symlink():
            raise StoreError(f"{path}: {_LINK}")


def replace_file(path: Path, data: bytes) -> None:
    """Write one public file outside any output directory (`pkiform schema -o`): staged
    beside it, flushed, then renamed over it, so an editor reading it meanwhile sees the
    old file or the new one, never a half-written one. The caller decides what may be
    replaced; a link is not followed but replaced by the rename, so refuse links first."""
    try:
        staged = _staged_copy(path, data)
        try:
            staged.replace(path)
            _fsync_dir(path.parent)
        finally:
            with contextlib.suppress(OSError):
                staged.unlink()  # gone once renamed
    except OSError as e:
        raise StoreError(f"{path}: cannot write: {e.strerror}") from e


def create_files(folder: Path, files: Mapping[str, bytes]) -> None:
    """Write new files into `folder` (made, with its parents, if missing), for `pkiform
    init`: each staged, flushed and linked into place, which fails where the name is
    taken, so nothing is ever overwritten, even by a race, nor left half-written. If a
    name is taken after all, the files made here are removed again and StoreError says
    which one."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StoreError(f"{folder}: cannot create: {e.strerror}") from e
    made: list[Path] = []
    for name, data in files.items():
        path = folder / name
        try:
            _link_new(path, data)
        except OSError as e:
            for done in made:
                with contextlib.suppress(OSError):
                    done.unlink()
            if isinstance(e, FileExistsError):
                raise StoreError(f"{path}: exists; nothing was written") from e
            raise StoreError(f"{path}: cannot write: {e.strerror}") from e
        made.append(path)
    try:
        _fsync_dir(folder)
    except OSError as e:
        raise StoreError(f"{folder}: cannot write: {e.strerror}") from e


def _link_new(path: Path, data: bytes) -> None:
    staged = _staged_copy(path, data)
    try:
        os.link(staged, path, follow_symlinks=False)
    finally:
        with contextlib.suppress(OSError):
            staged.unlink()


def _staged_copy(path: Path, data: bytes) -> Path:
    """`data` in a new public file beside `path`, hidden and named for this process,
    flushed to disk: what replace_file renames and _link_new links into place."""
    staged = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    with contextlib.suppress(FileNotFoundError):
        staged.unlink()  # left by a run of this pid that crashed
    fd = os.open(staged, flags, _PUBLIC)
    try:
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        with contextlib.suppress(OSError):
            staged.unlink()
        raise
    return staged


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _remove_unfinished(path: Path) -> None:
    """Delete a hidden new-identity folder: never live, so nothing in it is kept. A link
    there is removed itself, never followed (rmtree works on file descriptors and does
    not follow links inside either)."""
    try:
        if path.is_symlink() or not path.is_dir():
            path.unlink()
        else:
            shutil.rmtree(path)
    except OSError as e:
        raise StoreError(f"{path}: cannot remove an unfinished identity: {e.strerror}") from e


def _contents(folder: int, prefix: str, deep: bool) -> list[tuple[str, bytes | None]] | None:
    found: list[tuple[str, bytes | None]] = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.is_symlink():
            return None
        name = prefix + entry.name
        if entry.is_dir(follow_symlinks=False):
            found.append((name, None))
            inner_fd = os.open(entry.name, _READ_FLAGS | os.O_DIRECTORY, dir_fd=folder)
            try:
                if deep:
                    inner = _contents(inner_fd, name + "/", deep)
                else:  # counted by name only, but a key in it must not be open to others
                    loose: list[tuple[str, int]] = []
                    _loose(inner_fd, "", loose)
                    inner = None if loose else []
            finally:
                os.close(inner_fd)
            if inner is None:
                return None
            found += inner
        elif entry.is_file(follow_symlinks=False):
            fd = os.open(entry.name, _READ_FLAGS, dir_fd=folder)
            try:
                if _private(entry.name) and os.fstat(fd).st_mode & ~_OWNER & 0o777:
                    return None  # a mode apply tightens: the mark cannot vouch for it
                found.append((name, _read_all(fd)))
            finally:
                os.close(fd)
        else:
            return None
    return found


def _loose(folder: int, prefix: str, found: list[tuple[str, int]]) -> None:
    """Add to `found` the private files below `folder` (an open directory) that grant
    anything to others than their owner."""
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.name.startswith(".") or entry.is_symlink():
            continue
        if entry.is_dir(follow_symlinks=False):
            try:
                inner_fd = os.open(entry.name, _READ_FLAGS | os.O_DIRECTORY, dir_fd=folder)
            except PermissionError:
                continue  # no checkout made a folder its owner cannot read: left be
            try:
                _loose(inner_fd, f"{prefix}{entry.name}/", found)
            finally:
                os.close(inner_fd)
        elif _private(entry.name) and entry.is_file(follow_symlinks=False):
            mode = stat.S_IMODE(entry.stat(follow_symlinks=False).st_mode)
            if mode & ~_OWNER & 0o777:
                found.append((prefix + entry.name, mode))


def _private(filename: str) -> bool:
    """Whether a file holds a private key, by its name: live, or archived (where a second
    copy under the same stamp is `key.pem.1`)."""
    if filename in PRIVATE_FILES:
        return True
    stem, _, number = filename.rpartition(".")
    return number.isdigit() and stem in PRIVATE_FILES


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, _READ_SIZE):
        chunks.append(chunk)
    return b"".join(chunks)


def _staged(folder: Path) -> list[Path]:
    """Staging files (and marker) left in a folder."""
    return [Path(e.path) for e in _listing(folder) if e.name.startswith(PENDING)]


def _listing(folder: Path) -> list[os.DirEntry[str]]:
    try:
        return list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []


def _open_folder(path: Path) -> int | None:
    """A descriptor for reading the folder `path`; None when there is none, or it is a
    link (never followed)."""
    try:
        return os.open(path, _READ_FLAGS | os.O_DIRECTORY)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        if e.errno == errno.ELOOP:
            return None
        raise StoreError(f"{path}: cannot read: {e.strerror}") from e


def _mode(filename: str) -> int:
    return _PRIVATE if filename in PRIVATE_FILES else _PUBLIC


def _unused(path: Path) -> Path:
    candidate, n = path, 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.{n}")
        n += 1
    return candidate


_libc_syncfs: Callable[[int], int] | None
try:
    _libc_syncfs = ctypes.CDLL(None, use_errno=True).syncfs
except (OSError, AttributeError):  # not Linux: sync everything
    _libc_syncfs = None


def _syncfs(path: Path) -> None:
    """Flush every write to the file system holding `path` (Linux syncfs(2)): one call
    makes a whole batch durable, where an fsync per file costs ~0.3 ms each."""
    if _libc_syncfs is None:
        os.sync()
        return
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if _libc_syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise StoreError(f"{path}: cannot flush to disk: {os.strerror(err)}")
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    """Make renames in `path` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _lock_holder(fd: int) -> int | None:
    """The pid holding a flock on fd's file, from /proc/locks (Linux); None if unknown."""
    inode = os.fstat(fd).st_ino
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split()
        # "1: FLOCK  ADVISORY  WRITE 4242 00:2a:1234 0 EOF"
        if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5].rsplit(":", 1)[-1] == str(inode):
            with contextlib.suppress(ValueError):
                return int(parts[4])
    return None

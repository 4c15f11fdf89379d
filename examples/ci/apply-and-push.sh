#!/bin/sh
# pkiform apply with the output directory kept in git: what the CI recipes beside this
# file run on the main branch (README.md, "Running pkiform from CI, with the state in
# git"). Copy it into your repository as ci/apply-and-push.sh.
#
#   sh ci/apply-and-push.sh SPEC DIR BRANCH [pkiform apply options...]
#
# 1. Start from what is published: fetch BRANCH and reset the checkout to it (another
#    run may have pushed since this one was started; its spec is the newer one).
# 2. pkiform apply SPEC -o DIR.
# 3. pkiform status --public: DIR must hold no secret (no key in plain, no password
#    file), or nothing is committed and the job fails. (Anything else status finds, an
#    expiring certificate, is the expiry check's to report: the state is committed.)
# 4. Commit DIR alone (if anything changed) and push it to BRANCH.
# 5. A push refused because BRANCH moved on (two runs raced, and the other pushed
#    first): this run's commit is dropped, never rebased (a CRL or manifest.json merged
#    line by line is nonsense, and the certificates in it were never published), and it
#    starts again at 1 from what the other run pushed, which plans nothing to do or only
#    what is left. Any other refusal (rights, a protected branch) fails at once.
#
# The lock `pkiform apply` takes is a file lock on one machine's disk: it keeps two
# applies on the same runner apart, never two runners. Between runners, git is the
# lock: a push succeeds only on top of what it was made from. Keys kept in a token
# (key.pkcs11) are shared outside git: serialise the jobs too (the recipes' concurrency
# group and resource_group do), so two runs never make the same CA key at once.
#
# Environment: PKIFORM_REMOTE (default origin), PKIFORM_ATTEMPTS (default 5); git's
# own identity variables (GIT_AUTHOR_NAME...) for the commit; pkiform on PATH.
set -eu

if [ "$#" -lt 3 ]; then
  echo "usage: $0 SPEC DIR BRANCH [pkiform apply options...]" >&2
  exit 64
fi
spec=$1 out=${2%/} branch=$3
shift 3
remote=${PKIFORM_REMOTE:-origin}
attempts=${PKIFORM_ATTEMPTS:-5}
summary=$(mktemp)
public=$(mktemp)
trap 'rm -f "$summary" "$public"' EXIT

attempt=1
while :; do
  git fetch --quiet "$remote" "$branch"
  base=$(git rev-parse FETCH_HEAD)
  git reset --quiet --hard "$base"
  # a .gitignore that leaves out the directory would commit part of the state
  if ignored=$(git check-ignore --no-index --verbose -- "$out/manifest.json"); then
    echo "error: git ignores $out ($ignored); the state must be committed whole:" \
      "remove that line" >&2
    exit 1
  fi

  pkiform apply "$spec" -o "$out" "$@" > "$summary" || { cat "$summary"; exit 1; }
  cat "$summary"
  # no secret is ever committed: a directory that holds one fails the job here (what
  # else status finds is the expiry check's business: the new state is committed)
  pkiform status "$spec" -o "$out" --public > "$public" || true
  verdict=$(tail -n 1 "$public")
  case $verdict in
    "public: no secret"*) echo "$verdict" ;;
    public:*)
      cat "$public"
      echo "error: $out holds a secret (above): nothing was committed" >&2
      exit 1 ;;
    *)
      cat "$public"
      echo "error: pkiform status --public did not finish: nothing was committed" >&2
      exit 1 ;;
  esac

  git add --all -- "$out"
  if git diff --cached --quiet -- "$out"; then
    echo "pkiform: nothing to commit: $out is as $remote/$branch has it"
    exit 0
  fi
  # what changed in the state: modes, which git does not keep, are left out
  done_line=$(tail -n 1 "$summary" |
    sed -e 's/^Apply complete in [^:]*: //' -e 's/, [0-9]* key files* tightened//')
  changes=$(sed -e '$d' -e '/^  ~ key files: modes tightened/d' "$summary")
  git commit --quiet -m "pkiform apply: $done_line [skip ci]" -m "$changes" -- "$out"
  if git push --quiet "$remote" "HEAD:refs/heads/$branch"; then
    echo "pkiform: pushed $(git rev-parse --short HEAD) to $remote/$branch"
    exit 0
  fi

  git fetch --quiet "$remote" "$branch"
  if [ "$(git rev-parse FETCH_HEAD)" = "$base" ]; then
    echo "error: $remote refused the push, and $branch has not moved: not a race" >&2
    exit 1
  fi
  if [ "$attempt" -ge "$attempts" ]; then
    echo "error: $branch moved on $attempts times while this run applied; giving up" >&2
    exit 1
  fi
  echo "pkiform: another run pushed to $branch first; dropping this run's commit and" \
    "applying again from what it pushed"
  attempt=$((attempt + 1))
done

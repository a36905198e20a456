#!/usr/bin/env python3
"""Summarize an `adcp storyboard run --json` result (stdlib only).

usage: compliance_summary.py OUT_DIR [RUNNER_EXIT_CODE [EXPECTED_FAILURES_FILE]]

Reads OUT_DIR/result.json (the CLI's ComplianceResult) and OUT_DIR/capture.json (per-storyboard
results from storyboard-capture.cjs), prints one row per storyboard and, last,
    compliance: N passed, M failed, K skipped
A storyboard PASSes when no step failed, no cross-step assertion failed, the runner did not mark
it failed, and at least one step passed; it is SKIPped when no step passed or failed; otherwise it
FAILs. Exit status: 0 when every failed storyboard is an expected failure, every expected
failure still fails, and at least one storyboard passed; 1 otherwise (including a runner that
crashed or produced no result).

EXPECTED_FAILURES_FILE lists storyboards known to fail, one per line: the storyboard id, then
the reason (what is missing). Blank lines and lines starting with # are ignored. An entry
without a reason is an error, and so is an entry whose storyboard passes (it must be removed).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def load(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def expected_failures(path: Path | None) -> tuple[dict[str, str], list[str]]:
    """The expected failures (id -> reason) and the problems with the file."""
    if path is None:
        return {}, []
    try:
        lines = path.read_text().splitlines()
    except OSError as error:
        return {}, [f"cannot read {path}: {error}"]
    expected: dict[str, str] = {}
    problems: list[str] = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        sid, _, reason = line.partition(" ")
        if not reason.strip():
            problems.append(f"{path.name}:{number}: {sid} has no reason (say what is missing)")
        expected[sid] = reason.strip()
    return expected, problems


def main() -> int:
    out = Path(sys.argv[1])
    runner_rc = sys.argv[2] if len(sys.argv) > 2 else "?"
    expected, problems = expected_failures(Path(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[3] else None)
    result = load(out / "result.json")
    capture = load(out / "capture.json")
    have_result = isinstance(result, dict) and isinstance(result.get("tracks"), list)
    capture = capture if isinstance(capture, list) else []

    rows: dict[str, dict] = {}
    failures: list[str] = []

    def row(sid: str) -> dict:
        return rows.setdefault(
            sid,
            {"id": sid, "track": "-", "passed": 0, "failed": 0, "skipped": 0, "overall": None,
             "assert_failed": 0, "reasons": set(), "source": "capture"},
        )

    for sb in capture:
        r = row(sb.get("storyboard_id") or "?")
        r["track"] = sb.get("track") or "-"
        r["overall"] = sb.get("overall_passed")
        r["assert_failed"] = len(sb.get("failed_assertions") or [])
        for step in sb.get("steps") or []:
            if step.get("skipped"):
                r["skipped"] += 1
                if step.get("skip_reason"):
                    r["reasons"].add(str(step["skip_reason"]))
            elif step.get("passed"):
                r["passed"] += 1
            else:
                r["failed"] += 1
                v = (step.get("failed_validations") or [{}])[0]
                why = v.get("description") or v.get("error") or step.get("error") or "failed"
                if v.get("json_pointer"):
                    why += f" @{v['json_pointer']}"
                if v.get("actual") not in (None, ""):
                    why += f" (got {str(v['actual'])[:100]})"
                failures.append(f"{r['id']}/{step.get('step_id')} [{step.get('task') or '-'}]: {' '.join(str(why).split())[:240]}")
        for a in sb.get("failed_assertions") or []:
            failures.append(f"{r['id']} (assertion {a.get('assertion_id')}): {str(a.get('description') or '')[:200]}")

    if have_result:
        executed = [s for s in result.get("storyboards_executed") or [] if isinstance(s, str)]
        by_length = sorted(executed, key=len, reverse=True)
        from_tracks: dict[str, dict] = {}
        for track in result["tracks"]:
            for scenario in track.get("scenarios") or []:
                name = str(scenario.get("scenario") or "")
                sid = next((s for s in by_length if name == s or name.startswith(s + "/")), None)
                if sid is None:
                    sid = name.rsplit("/", 1)[0] if "/" in name else name
                t = from_tracks.setdefault(sid, {"track": track.get("track"), "p": 0, "f": 0, "s": 0, "reasons": set(), "overall": True})
                if scenario.get("overall_passed") is False:
                    t["overall"] = False
                for step in scenario.get("steps") or []:
                    if step.get("skipped"):
                        t["s"] += 1
                        if step.get("skip_reason"):
                            t["reasons"].add(str(step["skip_reason"]))
                    elif step.get("passed"):
                        t["p"] += 1
                    else:
                        t["f"] += 1
        fail_count: dict[str, int] = {}
        for f in result.get("failures") or []:
            fail_count[f.get("storyboard_id")] = fail_count.get(f.get("storyboard_id"), 0) + 1
        for sid in list(dict.fromkeys(executed + list(from_tracks))):
            if sid in rows:
                continue
            r = row(sid)
            t = from_tracks.get(sid)
            if t:
                r.update(track=t["track"] or "-", passed=t["p"], failed=t["f"], skipped=t["s"], source="result",
                         overall=False if t["f"] and t["overall"] is False else None)
                r["reasons"] |= t["reasons"]
            else:
                r.update(failed=fail_count.get(sid, 0), source="failures-only")
        if not capture:
            for f in result.get("failures") or []:
                v = f.get("validation") or {}
                why = v.get("description") or f.get("expected") or "failed"
                failures.append(f"{f.get('storyboard_id')}/{f.get('step_id')} [{f.get('task') or '-'}]: {' '.join(str(why).split())[:240]}")

    def status(r: dict) -> str:
        if r["failed"] or r["assert_failed"] or (r["overall"] is False and r["passed"]):
            return "FAIL"
        if r["passed"] == 0:
            return "SKIP"
        return "PASS"

    table = [(status(r), r) for r in rows.values()]
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    for st, _ in table:
        counts[st] += 1

    if have_result:
        caps = (result.get("agent_profile") or {}).get("raw_capabilities") or {}
        print(f"agent: {result.get('agent_url')}")
        print(f"overall_status: {result.get('overall_status')} · runner exit {runner_rc} · "
              f"{len(table)} storyboards · {(result.get('total_duration_ms') or 0) / 1000:.1f}s")
        print(f"declared: supported_protocols={json.dumps(caps.get('supported_protocols') or [])} "
              f"specialisms={json.dumps(caps.get('specialisms') or [])}")
    else:
        print(f"WARNING: the runner produced no result (exit {runner_rc}); rows below come from the capture only")
    print()
    width = max([10] + [len(r["id"]) for _, r in table])
    print(f"{'STATUS':<6} {'STORYBOARD':<{width}} {'TRACK':<18} PASS FAIL SKIP  NOTE")
    for st, r in table:
        notes = []
        if r["id"] in expected:
            notes.append("expected failure" if st == "FAIL" else "EXPECTED TO FAIL BUT DID NOT")
        if r["reasons"]:
            notes.append("skips: " + ",".join(sorted(r["reasons"])))
        if r["assert_failed"]:
            notes.append(f"{r['assert_failed']} failed assertion(s)")
        if r["source"] == "failures-only":
            notes.append("(passes not reported by the CLI JSON)")
        print(f"{st:<6} {r['id']:<{width}} {str(r['track']):<18} {r['passed']:>4} {r['failed']:>4} {r['skipped']:>4}  {'; '.join(notes)}")
    steps = [sum(r[k] for _, r in table) for k in ("passed", "failed", "skipped")]
    print()
    print(f"steps: {steps[0]} passed, {steps[1]} failed, {steps[2]} skipped")
    if failures:
        print()
        print(f"failing steps ({len(failures)}):")
        for line in failures[:60]:
            print(f"  - {line}")
    print()
    unexpected = [r["id"] for st, r in table if st == "FAIL" and r["id"] not in expected]
    stale = [sid for sid in expected if not any(st == "FAIL" and r["id"] == sid for st, r in table)]
    for sid in stale:
        problems.append(f"{sid} is listed as an expected failure but did not fail: remove it from the list")
    if expected:
        known = len(expected) - len(stale)
        print(f"expected failures: {known} of {len(expected)} listed failed as expected; "
              f"unexpected failures: {len(unexpected)} {' '.join(unexpected)}".rstrip())
    for problem in problems:
        print(f"error: {problem}")
    suffix = "" if have_result else " (runner did not finish)"
    print(f"compliance: {counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped{suffix}")
    ok = have_result and not unexpected and not problems and counts["PASS"] > 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

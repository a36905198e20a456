// Preload for `node --require storyboard-capture.cjs <sdk>/bin/adcp.js storyboard run ...`
// (@adcp/sdk 6.x). Wraps the runner's exported runStoryboard() and writes every per-storyboard
// result (slimmed) to $SA_CAPTURE_FILE as a JSON array, rewritten after each storyboard.
//
// With $SA_TEST_KIT_JSON it also sets options.test_kit when the CLI did not (6.11.0's CLI has no
// --test-kit flag), e.g. {"auth":{"api_key":"…","probe_task":"list_creatives"}} so that
// security_baseline can take its API-key branch.
//
// With $SA_SKIP_SIGNING_VECTORS (comma-separated vector ids) it sets
// options.request_signing.skipVectors, the runner's documented knob for request-signing vectors
// that do not apply to the agent's declared profile (6.11.0's CLI has no flag for it): an agent
// declaring covers_content_digest "either" is graded by neither 007 (for "required") nor 018
// (for "forbidden").
//
// With $SA_BEFORE_EACH_STORYBOARD (a shell command) it runs that command before every storyboard
// but the first and waits for it: scripts/compliance.sh uses it to give each storyboard a fresh
// server with empty state, as the storyboards' fixtures assume (exact counts, fixed idempotency
// keys). The runner runs storyboards one after another (comply.js), so nothing is in flight then.
//
// Why the capture: the CLI's --json ComplianceResult only has rows for tracks in comply()'s TRACK_ORDER, so
// e.g. security_baseline (track "security") and signed_requests ("security_transport") would be
// invisible when they pass. The capture has every storyboard that ran.
'use strict';
const fs = require('fs');
const path = require('path');

const captureFile = process.env.SA_CAPTURE_FILE || '';
const testKit = process.env.SA_TEST_KIT_JSON ? JSON.parse(process.env.SA_TEST_KIT_JSON) : undefined;
const skipVectors = (process.env.SA_SKIP_SIGNING_VECTORS || '').split(',').map((v) => v.trim()).filter(Boolean);
const beforeEach = process.env.SA_BEFORE_EACH_STORYBOARD || '';
const sdkDir = process.env.ADCP_SDK_DIR
  ? path.resolve(process.env.ADCP_SDK_DIR)
  : path.resolve(path.dirname(process.argv[1] || '.'), '..');

function cut(value, n) {
  if (value === undefined || value === null) return value;
  const s = typeof value === 'string' ? value : JSON.stringify(value);
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

function slimStep(step) {
  const failed = (step.validations || [])
    .filter((v) => v && v.passed === false)
    .slice(0, 5)
    .map((v) => ({
      check: v.check,
      description: cut(v.description, 300),
      json_pointer: v.json_pointer,
      error: cut(v.error, 300),
      expected: cut(v.expected, 200),
      actual: cut(v.actual, 200),
    }));
  return {
    step_id: step.step_id,
    title: step.title,
    task: step.task,
    passed: !!step.passed,
    skipped: !!step.skipped,
    skip_reason: step.skip_reason,
    error: cut(step.error, 400),
    failed_validations: failed,
    // What went over the wire, for failed steps only (to see why without re-running).
    ...(step.passed || step.skipped ? {} : { request: cut(step.request, 1500), response: cut(step.response, 1500) }),
  };
}

function slim(result, storyboard) {
  return {
    storyboard_id: result.storyboard_id,
    track: storyboard && storyboard.track,
    overall_passed: !!result.overall_passed,
    passed_count: result.passed_count,
    failed_count: result.failed_count,
    skipped_count: result.skipped_count,
    failed_assertions: (result.assertions || [])
      .filter((a) => a && a.passed === false)
      .map((a) => ({ assertion_id: a.assertion_id, description: cut(a.description || a.message || a.error, 300) })),
    steps: (result.phases || []).flatMap((phase) =>
      (phase.steps || []).map((step) => ({ phase_id: phase.phase_id, ...slimStep(step) })),
    ),
  };
}

if (captureFile || testKit || skipVectors.length || beforeEach) {
  const runner = require(path.join(sdkDir, 'dist', 'lib', 'testing', 'storyboard', 'runner.js'));
  const original = runner.runStoryboard;
  if (typeof original !== 'function') {
    throw new Error('storyboard-capture: runner.runStoryboard not found (SDK layout changed?)');
  }
  const captured = [];
  let started = 0;
  if (captureFile) fs.writeFileSync(captureFile, '[]\n');
  runner.runStoryboard = async function capturedRunStoryboard(agentUrl, storyboard, options) {
    let opts = options;
    if (testKit && (!opts || opts.test_kit === undefined)) opts = { ...(opts || {}), test_kit: testKit };
    if (skipVectors.length && !(opts && opts.request_signing)) {
      opts = { ...(opts || {}), request_signing: { skipVectors } };
    }
    if (beforeEach && started > 0) {
      require('child_process').execFileSync('bash', ['-c', beforeEach], { stdio: ['ignore', 'inherit', 'inherit'] });
    }
    started += 1;
    const result = await original.call(this, agentUrl, storyboard, opts);
    if (!captureFile) return result;
    try {
      captured.push(slim(result, storyboard));
      fs.writeFileSync(captureFile, `${JSON.stringify(captured, null, 1)}\n`);
    } catch (error) {
      process.stderr.write(`[storyboard-capture] ${error.message}\n`);
    }
    return result;
  };
}

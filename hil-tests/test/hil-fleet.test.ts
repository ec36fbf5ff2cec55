// The fleet stories (hil-tests/scenarios/fleet-stories.ts) on both backends, as
// board-scenarios.test.ts does for flashing: a real ESP32 when docs/hil.md's variables name
// one, and always the virtual ESP32 running the Mongoose OS double with the real agent.
// Each board's whole console transcript is written under hil-tests/logs/ (ESPFLEET_HIL_LOG_DIR).
import { MOSQUITTO, mosquittoAvailable } from '../../certs/test/mosquitto-harness.ts';
import { repoRoot } from '../../scripts/lib/oracles.ts';
import { fleetStories } from '../scenarios/fleet-stories.ts';
import { startRealRig, startVirtualRig } from '../scenarios/rig.ts';
import { logDirFor, realBoardEnv, realBoardTitle } from '../scenarios/rig-env.ts';
import { describeStories } from '../scenarios/story.ts';

const logDir = logDirFor(repoRoot);
const real = realBoardEnv();
const broker = mosquittoAvailable();

describeStories(`${realBoardTitle(real)}${real.env && !broker ? ` (skipped: needs ${MOSQUITTO})` : ''}`, { skip: !real.env || !broker, start: () => startRealRig(real.env!, { logDir }), setupMs: 120_000, timeoutFactor: 4 }, fleetStories);

describeStories(`virtual ESP32 (sim://) with the agent${broker ? '' : ` (skipped: needs ${MOSQUITTO})`}`, { skip: !broker, start: () => startVirtualRig({ name: 'hil-fleet', logDir }), setupMs: 60_000 }, fleetStories);

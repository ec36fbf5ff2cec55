// The board's life in the fleet as nine stories, in the order a board lives them: made at the
// factory, online, serviced in the field, updated (and an update that fails, and one that is
// refused), its certificate renewed twice over (by a technician, by the renewal service), and
// at last revoked. They only use what a real board offers: its port, the broker, the
// firmware server. Steps assert on content; the timeouts are only how long to wait for it.
import { certificateStories } from './stories/certificates.ts';
import { factoryStories } from './stories/factory.ts';
import { fieldStories } from './stories/field.ts';
import { otaStories } from './stories/ota.ts';
import type { Scenario } from './story.ts';

export const fleetStories: readonly Scenario[] = [...factoryStories, ...fieldStories, ...otaStories, ...certificateStories];

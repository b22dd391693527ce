/** Event ids sort in time order, and the ids one process makes within one millisecond in the order made. */
import { expect } from 'chai';
import { eventId } from '../../../api/events/ids.js';

describe('event ids', () => {
  it('ids of the same millisecond sort in the order they were made, and stay distinct', () => {
    const at = '2026-11-24T10:15:30.000Z';
    const ids = Array.from({ length: 1000 }, () => eventId(at));
    expect([...ids].sort()).to.deep.equal(ids);
    expect(new Set(ids).size).to.equal(ids.length);
    for (const id of ids) expect(id).to.match(/^2026-11-24T10:15:30\.000Z#[0-9a-f]{12}$/);
  });

  it('a later millisecond sorts after an earlier one whatever the random part', () => {
    const earlier = eventId('2026-11-24T10:15:30.000Z');
    const later = eventId('2026-11-24T10:15:30.001Z');
    expect(later > earlier).to.equal(true);
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { zooKeeperSnapshots } from '../../bench/e2e-registries.ts';

describe('bench:e2e reads the registry server its tail is measured beside', () => {
  const log = [
    '2026-11-29 20:23:48,777 INFO  FileTxnSnapLog - Snapshotting: 0x81132 to /data/version-2/snapshot.81132',
    '2026-11-29 20:23:50,513 INFO  ZooKeeperServer - Snapshot taken in 1736 ms',
    '2026-11-29 20:25:45,880 INFO  FileTxnSnapLog - Snapshotting: 0x931c4 to /data/version-2/snapshot.931c4',
    '2026-11-29 20:25:47,666 INFO  ZooKeeperServer - Snapshot taken in 1786 ms',
  ].join('\n');
  const at = (t: string) => new Date(`2026-11-29T${t}`).getTime();

  it('given ZooKeeper snapshots, lists those overlapping the churn, seconds into it and how long', () => {
    assert.deepEqual(zooKeeperSnapshots(log, at('20:25:35'), at('20:26:35')), [
      { what: 'ZooKeeper snapshot', atS: 10.9, ms: 1786 },
    ]);
  });

  it('counts a snapshot that started before the window and ended inside it', () => {
    assert.equal(zooKeeperSnapshots(log, at('20:23:50'), at('20:24:00')).length, 1);
  });

  it('lists nothing for a window without snapshots', () => {
    assert.deepEqual(zooKeeperSnapshots(log, at('20:30:00'), at('20:31:00')), []);
  });
});

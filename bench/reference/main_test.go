package main

import "testing"

// Expected shards computed with services/xds-gateway/shard.ts: the reference must place every resource where the
// gateway would, or bench:istiod-floor's shard split would not be the gateway's.
func TestShardOfMatchesTheGateway(t *testing.T) {
	cases := []struct {
		name   string
		shards int
		want   int
	}{
		{"dubbo/org.bench.service0", 256, 77},
		{"dubbo/org.bench.service12345", 256, 222},
		{"dubbo/org.bench.service49999", 1024, 277},
		{"ns-3/svc-7.ns-3.svc", 7, 2},
		{"dubbo/é-ü-服务", 97, 52},
		{"ServiceEntry|dubbo/org.bench.service0", 256, 77},
		{"dubbo/org.bench.service0", 1, 0},
	}
	for _, c := range cases {
		if got := shardOf(c.name, c.shards); got != c.want {
			t.Errorf("shardOf(%q, %d) = %d, want %d", c.name, c.shards, got, c.want)
		}
	}
}

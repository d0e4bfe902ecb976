// A minimal MCP-over-xDS config source on go-control-plane (its SotW ADS server and snapshot cache), serving the
// ServiceEntries the gateway benchmark wrote: the reference that bench/gateway-vs-reference.ts measures the
// xds-gateway against, and the config source of bench/istiod-floor.ts (istiod's own latency floor). Not part of
// meshbridge; built by those benchmarks on demand.
//
// Input: -resources, a file of records [u32 BE name length][name][u32 BE length][Any bytes] — the exact Any elements
// the gateway serves. POST /resource?name=N with an Any as body replaces (or adds) one resource and bumps the version
// of its shard, answering that version; GET /version returns the version being served (shard 0's).
//
// -shards K: K ADS listeners, one config source each with its own snapshot cache, as the gateway's gateway.shards. A
// resource lives in shard FNV-1a-32("namespace/name") mod K (services/xds-gateway/shard.ts); a name of the form
// "Kind|namespace/name" (the snapshot store's field) is hashed without its "Kind|". A change rebuilds only its shard.
// -events prints one JSON line per ServiceEntry response pushed and per ACK received, for the benchmark's timings.
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"
)

// servedTypes are the type URLs answered with the ServiceEntries (istiod asks v1; older ones v1alpha3).
var servedTypes = map[string]bool{
	"networking.istio.io/v1/ServiceEntry":       true,
	"networking.istio.io/v1alpha3/ServiceEntry": true,
}

// rawResource is a message that marshals to exactly the given bytes (kept as unknown fields): the cache wraps it in
// Any{type_url: <requested type>, value: <these bytes>}, and mcpStream names the MCP Resource in type_url — byte for
// byte what the gateway sends.
func rawResource(value []byte) types.Resource {
	m := &emptypb.Empty{}
	m.ProtoReflect().SetUnknown(protoreflect.RawFields(value))
	return m
}

// mcpResourceType is the type_url of each element istiod reads from an MCP-over-xDS response (its client rejects any
// other); go-control-plane's cache always uses the request's type URL.
const mcpResourceType = "type.googleapis.com/istio.mcp.v1alpha1.Resource"

// mcpStream sends each ServiceEntry response with its elements renamed to mcpResourceType: a shallow copy, since the
// cache shares one response between streams.
type mcpStream struct{ grpc.ServerStream }

func (s mcpStream) SendMsg(m any) error {
	if resp, ok := m.(*discoverygrpc.DiscoveryResponse); ok && servedTypes[resp.TypeUrl] {
		out := &discoverygrpc.DiscoveryResponse{
			VersionInfo:  resp.VersionInfo,
			Canary:       resp.Canary,
			TypeUrl:      resp.TypeUrl,
			Nonce:        resp.Nonce,
			ControlPlane: resp.ControlPlane,
			Resources:    make([]*anypb.Any, len(resp.Resources)),
		}
		for i, r := range resp.Resources {
			out.Resources[i] = &anypb.Any{TypeUrl: mcpResourceType, Value: r.Value}
		}
		m = out
	}
	return s.ServerStream.SendMsg(m)
}

func mcpTypes(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, mcpStream{ss})
}

// snapshot implements cachev3.ResourceSnapshot for Istio type URLs (the stock Snapshot knows Envoy types only).
// Every other type URL gets an empty response at a fixed version, once, as the gateway answers it.
type snapshot struct {
	version   string
	resources map[string]types.ResourceWithTTL
	plain     map[string]types.Resource
}

func (s *snapshot) GetVersion(typeURL string) string {
	if servedTypes[typeURL] {
		return s.version
	}
	return "0"
}

func (s *snapshot) GetResourcesAndTTL(typeURL string) map[string]types.ResourceWithTTL {
	if servedTypes[typeURL] {
		return s.resources
	}
	return nil
}

func (s *snapshot) GetResources(typeURL string) map[string]types.Resource {
	if servedTypes[typeURL] {
		return s.plain
	}
	return nil
}

func (s *snapshot) ConstructVersionMap() error             { return nil }
func (s *snapshot) GetVersionMap(string) map[string]string { return nil }

// store is one shard: its resources and the snapshot cache its listener serves.
type store struct {
	mu      sync.Mutex
	version int
	values  map[string]types.Resource
	cache   cachev3.SnapshotCache
}

// publish builds a new snapshot (copy-on-write: a response in flight keeps the maps it was built from).
func (st *store) publish() error {
	st.version++
	s := &snapshot{
		version:   strconv.Itoa(st.version),
		resources: make(map[string]types.ResourceWithTTL, len(st.values)),
		plain:     make(map[string]types.Resource, len(st.values)),
	}
	for name, r := range st.values {
		s.resources[name] = types.ResourceWithTTL{Resource: r}
		s.plain[name] = r
	}
	return st.cache.SetSnapshot(context.Background(), "mesh", s)
}

// shardOf is services/xds-gateway/shard.ts: FNV-1a (32 bit) over the UTF-16 code units of "namespace/name", mod K.
func shardOf(name string, shards int) int {
	if shards <= 1 {
		return 0
	}
	if bar := strings.IndexByte(name, '|'); bar >= 0 {
		name = name[bar+1:]
	}
	h := uint32(0x811c9dc5)
	for _, u := range utf16.Encode([]rune(name)) {
		h ^= uint32(u)
		h *= 0x01000193
	}
	return int(h % uint32(shards))
}

// events writes the -events lines: {"ev":"push"|"ack","shard":k,"version":"v","t":<unix ms>}.
type events struct {
	mu sync.Mutex
	on bool
}

func (e *events) emit(ev string, shard int, version string) {
	if !e.on {
		return
	}
	t := time.Now().UnixMilli()
	e.mu.Lock()
	defer e.mu.Unlock()
	fmt.Fprintf(os.Stdout, "{\"ev\":%q,\"shard\":%d,\"version\":%q,\"t\":%d}\n", ev, shard, version, t)
}

// callbacks report ServiceEntry pushes and istiod's ACKs (a request carrying the version it accepts, no error).
func (e *events) callbacks(shard int) serverv3.Callbacks {
	if !e.on {
		return nil
	}
	return serverv3.CallbackFuncs{
		StreamRequestFunc: func(_ int64, req *discoverygrpc.DiscoveryRequest) error {
			if servedTypes[req.TypeUrl] && req.ResponseNonce != "" && req.ErrorDetail == nil {
				e.emit("ack", shard, req.VersionInfo)
			}
			return nil
		},
		StreamResponseFunc: func(_ context.Context, _ int64, _ *discoverygrpc.DiscoveryRequest,
			resp *discoverygrpc.DiscoveryResponse) {
			if servedTypes[resp.TypeUrl] {
				e.emit("push", shard, resp.VersionInfo)
			}
		},
	}
}

func anyValue(b []byte) ([]byte, error) {
	a := &anypb.Any{}
	if err := proto.Unmarshal(b, a); err != nil {
		return nil, err
	}
	return a.Value, nil
}

func load(path string) (map[string][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for at := 0; at < len(data); {
		field := func() ([]byte, error) {
			if at+4 > len(data) {
				return nil, fmt.Errorf("%s: record truncated at byte %d", path, at)
			}
			n := int(binary.BigEndian.Uint32(data[at:]))
			if at+4+n > len(data) {
				return nil, fmt.Errorf("%s: record of %d bytes truncated at byte %d", path, n, at)
			}
			b := data[at+4 : at+4+n]
			at += 4 + n
			return b, nil
		}
		name, err := field()
		if err != nil {
			return nil, err
		}
		any, err := field()
		if err != nil {
			return nil, err
		}
		if out[string(name)], err = anyValue(any); err != nil {
			return nil, fmt.Errorf("%s: resource %q is not an Any: %w", path, name, err)
		}
	}
	return out, nil
}

// constantHash puts every istiod on one snapshot (one mesh, one config).
type constantHash struct{}

func (constantHash) ID(*core.Node) string { return "mesh" }

func main() {
	grpcAddr := flag.String("grpc", "127.0.0.1:0", "ADS listen address (-shards > 1: its host, each shard on a free port)")
	httpAddr := flag.String("http", "127.0.0.1:0", "control listen address")
	file := flag.String("resources", "", "resource file (see the package comment)")
	shards := flag.Int("shards", 1, "config sources (ADS listeners), as the gateway's gateway.shards")
	logEvents := flag.Bool("events", false, "print a JSON line per ServiceEntry push and per ACK")
	flag.Parse()
	if *shards < 1 {
		log.Fatalf("-shards must be at least 1, not %d", *shards)
	}

	values, err := load(*file)
	if err != nil {
		log.Fatalf("loading resources: %v", err)
	}
	ev := &events{on: *logEvents}
	stores := make([]*store, *shards)
	for k := range stores {
		stores[k] = &store{values: map[string]types.Resource{}, cache: cachev3.NewSnapshotCache(false, constantHash{}, nil)}
	}
	for name, v := range values {
		stores[shardOf(name, *shards)].values[name] = rawResource(v)
	}

	ports := make([]string, *shards)
	for k, st := range stores {
		if err := st.publish(); err != nil {
			log.Fatalf("snapshot: %v", err)
		}
		gs := grpc.NewServer(
			grpc.MaxRecvMsgSize(16*1024*1024),
			grpc.StreamInterceptor(mcpTypes),
			// istiod pings every 30 s on an open stream: allow it, as the gateway does.
			grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		)
		discoverygrpc.RegisterAggregatedDiscoveryServiceServer(gs,
			serverv3.NewServer(context.Background(), st.cache, ev.callbacks(k)))
		addr := *grpcAddr
		if *shards > 1 {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				log.Fatalf("-grpc %q: %v", addr, err)
			}
			addr = net.JoinHostPort(host, "0")
		}
		gl, err := net.Listen("tcp", addr)
		if err != nil {
			log.Fatalf("grpc listen: %v", err)
		}
		ports[k] = strconv.Itoa(gl.Addr().(*net.TCPAddr).Port)
		go func() { log.Fatal(gs.Serve(gl)) }()
	}

	mux := http.NewServeMux()
	mux.HandleFunc("POST /resource", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("name")
		body, err := io.ReadAll(r.Body)
		if err == nil && name == "" {
			err = fmt.Errorf("query parameter name is required")
		}
		var v []byte
		if err == nil {
			v, err = anyValue(body)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		st := stores[shardOf(name, *shards)]
		st.mu.Lock()
		st.values[name] = rawResource(v)
		err = st.publish()
		version := st.version
		st.mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, version)
	})
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, _ *http.Request) {
		stores[0].mu.Lock()
		defer stores[0].mu.Unlock()
		fmt.Fprint(w, stores[0].version)
	})
	hl, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		log.Fatalf("http listen: %v", err)
	}
	// One line the benchmarks read for the bound ports (comma-separated, shard order).
	ev.mu.Lock()
	fmt.Printf("listening grpc=%s http=%d resources=%d\n",
		strings.Join(ports, ","), hl.Addr().(*net.TCPAddr).Port, len(values))
	ev.mu.Unlock()
	log.Fatal(http.Serve(hl, mux))
}

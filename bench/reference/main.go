// A minimal MCP-over-xDS config source on go-control-plane (its SotW ADS server and snapshot cache), serving the
// ServiceEntries the gateway benchmark wrote: the reference that bench/gateway-vs-reference.ts measures the
// xds-gateway against. Not part of meshbridge; built by that benchmark on demand.
//
// Input: -resources, a file of records [u32 BE name length][name][u32 BE length][Any bytes] — the exact Any elements
// the gateway serves. POST /resource?name=N with an Any as body replaces (or adds) one resource and bumps the version;
// GET /version returns the version being served.
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
	"sync"
	"time"

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
// Any{type_url: <requested type>, value: <these bytes>} — the MCP Resource, byte for byte what the gateway sends.
func rawResource(value []byte) types.Resource {
	m := &emptypb.Empty{}
	m.ProtoReflect().SetUnknown(protoreflect.RawFields(value))
	return m
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

type store struct {
	mu      sync.Mutex
	version int
	values  map[string][]byte
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
	for name, v := range st.values {
		r := rawResource(v)
		s.resources[name] = types.ResourceWithTTL{Resource: r}
		s.plain[name] = r
	}
	return st.cache.SetSnapshot(context.Background(), "mesh", s)
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
	grpcAddr := flag.String("grpc", "127.0.0.1:0", "ADS listen address")
	httpAddr := flag.String("http", "127.0.0.1:0", "control listen address")
	file := flag.String("resources", "", "resource file (see the package comment)")
	flag.Parse()

	values, err := load(*file)
	if err != nil {
		log.Fatalf("loading resources: %v", err)
	}
	st := &store{values: values, cache: cachev3.NewSnapshotCache(false, constantHash{}, nil)}
	if err := st.publish(); err != nil {
		log.Fatalf("snapshot: %v", err)
	}

	gs := grpc.NewServer(
		grpc.MaxRecvMsgSize(16*1024*1024),
		// istiod pings every 30 s on an open stream: allow it, as the gateway does.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
	)
	discoverygrpc.RegisterAggregatedDiscoveryServiceServer(gs, serverv3.NewServer(context.Background(), st.cache, nil))
	gl, err := net.Listen("tcp", *grpcAddr)
	if err != nil {
		log.Fatalf("grpc listen: %v", err)
	}
	go func() { log.Fatal(gs.Serve(gl)) }()

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
		st.mu.Lock()
		st.values[name] = v
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
		st.mu.Lock()
		defer st.mu.Unlock()
		fmt.Fprint(w, st.version)
	})
	hl, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		log.Fatalf("http listen: %v", err)
	}
	// One line the benchmark reads for the bound ports.
	fmt.Printf("listening grpc=%d http=%d resources=%d\n",
		gl.Addr().(*net.TCPAddr).Port, hl.Addr().(*net.TCPAddr).Port, len(values))
	log.Fatal(http.Serve(hl, mux))
}

package kafka

import (
	"bytes"
	"reflect"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// API keys served.
const (
	produceKey         int16 = 0
	fetchKey           int16 = 1
	listOffsetsKey     int16 = 2
	metadataKey        int16 = 3
	offsetCommitKey    int16 = 8
	offsetFetchKey     int16 = 9
	findCoordinatorKey int16 = 10
	joinGroupKey       int16 = 11
	heartbeatKey       int16 = 12
	leaveGroupKey      int16 = 13
	syncGroupKey       int16 = 14
	describeGroupsKey  int16 = 15
	listGroupsKey      int16 = 16
	apiVersionsKey     int16 = 18
	createTopicsKey    int16 = 19
	deleteTopicsKey    int16 = 20
	initProducerIDKey  int16 = 22
)

// apiSpec is one API the listener serves and the versions it advertises.
// Exactly one handler is set: handle answers from the request alone,
// handleWith also needs the request header, handleAsync returns a finish
// step that the connection's writer runs before sending the response.
type apiSpec struct {
	key, min, max int16
	handle        func(c *conn, req kmsg.Request) kmsg.Response
	handleWith    func(c *conn, rc requestContext, req kmsg.Request) kmsg.Response
	handleAsync   func(c *conn, req kmsg.Request) (kmsg.Response, func())
}

// apis lists every served API. Versions are advertised only when fully
// implemented; minimums are 0 where librdkafka derives features from them
// (Produce v0 enables gzip/snappy, FindCoordinator v0 enables lz4). Fetch
// starts at v4 because v0-3 would need down-conversion to message format
// v0/v1.
var apis = []apiSpec{
	{key: produceKey, min: 0, max: 12, handleAsync: handleProduce},
	{key: fetchKey, min: 4, max: 12, handle: handleFetch},
	{key: listOffsetsKey, min: 0, max: 7, handle: handleListOffsets},
	{key: metadataKey, min: 0, max: 12, handle: handleMetadata},
	{key: offsetCommitKey, min: 0, max: 9, handle: handleOffsetCommit},
	{key: offsetFetchKey, min: 0, max: 9, handle: handleOffsetFetch},
	{key: findCoordinatorKey, min: 0, max: 4, handle: handleFindCoordinator},
	{key: joinGroupKey, min: 0, max: 9, handleWith: handleJoinGroup},
	{key: heartbeatKey, min: 0, max: 4, handle: handleHeartbeat},
	{key: leaveGroupKey, min: 0, max: 5, handle: handleLeaveGroup},
	{key: syncGroupKey, min: 0, max: 5, handle: handleSyncGroup},
	{key: describeGroupsKey, min: 0, max: 5, handle: handleDescribeGroups},
	{key: listGroupsKey, min: 0, max: 5, handle: handleListGroups},
	{key: apiVersionsKey, min: 0, max: 3, handle: handleApiVersions},
	{key: createTopicsKey, min: 0, max: 7, handle: handleCreateTopics},
	{key: deleteTopicsKey, min: 0, max: 6, handle: handleDeleteTopics},
	{key: initProducerIDKey, min: 0, max: 4, handle: handleInitProducerID},
}

// lookupAPI returns the spec serving key at version, or nil.
func lookupAPI(key, version int16) *apiSpec {
	for i := range apis {
		if a := &apis[i]; a.key == key {
			if version < a.min || version > a.max {
				return nil
			}
			return a
		}
	}
	return nil
}

// advertised is the ApiVersions list built from apis (in init: the table
// refers to handleApiVersions, which refers to this list).
var advertised []kmsg.ApiVersionsResponseApiKey

func init() {
	for _, a := range apis {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = a.key, a.min, a.max
		advertised = append(advertised, k)
	}
}

func handleApiVersions(_ *conn, r kmsg.Request) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.ApiVersionsResponse)
	resp.ApiKeys = advertised
	return resp
}

// unsupportedResponse answers a request whose key or version is not served.
// ApiVersions answers at v0 with UNSUPPORTED_VERSION and the supported list,
// as Kafka does, so the client retries with a version it can use. Other
// known keys get their response type with UNSUPPORTED_VERSION in its
// top-level error code; it returns nil when the response has none or kmsg
// cannot encode that version, and the connection is then closed.
func unsupportedResponse(h requestHeader) kmsg.Response {
	if h.req == nil {
		return nil
	}
	if h.key == apiVersionsKey {
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		resp.ApiKeys = advertised
		return resp
	}
	if h.version < 0 || h.version > h.req.MaxVersion() {
		return nil
	}
	resp := h.req.ResponseKind()
	resp.SetVersion(h.version)
	f := reflect.ValueOf(resp).Elem().FieldByName("ErrorCode")
	if !f.IsValid() || f.Kind() != reflect.Int16 || !f.CanSet() {
		return nil
	}
	// The field may exist only in later versions (Fetch's is v7+): keep the
	// response only if the error code changes its encoding.
	without := resp.AppendTo(nil)
	f.SetInt(int64(kerr.UnsupportedVersion.Code))
	if bytes.Equal(without, resp.AppendTo(nil)) {
		return nil
	}
	return resp
}

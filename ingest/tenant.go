package ingest

import (
	"net/http"

	"github.com/siltlog/silt/segments/topics"
)

// TenantHeader carries the tenant, as in Loki.
const (
	TenantHeader  = "X-Scope-OrgID"
	DefaultTenant = "fake" // the single tenant when auth is disabled, as in Loki
)

// TenantFromRequest returns the request's tenant: X-Scope-OrgID when auth is
// enabled (401 without it), else DefaultTenant.
func TenantFromRequest(r *http.Request, authEnabled bool) (string, error) {
	if !authEnabled {
		return DefaultTenant, nil
	}
	tenant := r.Header.Get(TenantHeader)
	if tenant == "" {
		return "", Errorf(http.StatusUnauthorized, ReasonMissingTenant,
			"no org id: auth is enabled, so every request needs the %s header naming its tenant", TenantHeader)
	}
	if err := topics.ValidateTenantID(tenant); err != nil {
		return "", Errorf(http.StatusBadRequest, ReasonInvalidTenant, "%s header: %v", TenantHeader, err)
	}
	return tenant, nil
}

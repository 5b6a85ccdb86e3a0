// Pure predicates for the string formats the object kinds use (names, labels, URLs, quantities).
// They say whether a value is well-formed; the codec turns a `false` into an error that names the
// file, the object and the field.
#pragma once

#include <cstddef>
#include <string_view>

namespace agentd::resources {

inline constexpr size_t kMaxNameLength = 63;

// DNS-1123 label: 1-63 chars of [a-z0-9-], starting and ending with [a-z0-9]. Object names,
// roles and namespaces.
bool IsDnsLabel(std::string_view text);
// DNS-1123 subdomain: 1-253 chars, dot-separated DNS labels. Kubernetes Secret names.
bool IsDnsSubdomain(std::string_view text);
// Kubernetes label/annotation key: optional "prefix/" (a DNS subdomain) then a name of 1-63
// chars of [A-Za-z0-9-_.] starting and ending with an alphanumeric.
bool IsQualifiedName(std::string_view text);
// Kubernetes label value: empty, or up to 63 chars like the name part of a qualified name.
bool IsLabelValue(std::string_view text);
// Environment variable name: [A-Za-z_][A-Za-z0-9_]*, at most 256 chars.
bool IsEnvVarName(std::string_view text);
// Key of a Kubernetes Secret: 1-253 chars of [-._a-zA-Z0-9].
bool IsSecretKey(std::string_view text);
// "http://host..." or "https://host...": a non-empty host, no whitespace or control characters.
bool IsHttpUrl(std::string_view text);
// 64 hexadecimal digits (either case).
bool IsSha256Hex(std::string_view text);
// Kubernetes CPU quantity: "2", "0.5", "500m".
bool IsCpuQuantity(std::string_view text);
// Kubernetes memory quantity: "1073741824", "512Mi", "1Gi", "1G", "1.5Gi".
bool IsMemoryQuantity(std::string_view text);
// True when the text has no whitespace or control characters and does not start with '-' (so it
// can never be taken for an option when passed to git or a container runtime).
bool IsSafeToken(std::string_view text);
// A git branch or tag name: a safe token without "..", "@{", or any of ~^:?*[\ and not ending
// in '/', '.' or ".lock".
bool IsGitRefName(std::string_view text);

// IANA time zone name as Budget.timeZone takes it ("UTC", "Europe/Berlin", "Etc/GMT+5"): 1-64
// chars of [A-Za-z0-9_+-/], not starting or ending with '/', without "//" (so never "..", "."
// or an absolute path: it names a file under the zoneinfo directory).
bool IsTimeZoneName(std::string_view text);
// A caller identity as the API key authenticator gives it ("ci", "key-1a2b3c4d"): 1-63 chars of
// [A-Za-z0-9._-].
bool IsCallerIdentity(std::string_view text);

}  // namespace agentd::resources

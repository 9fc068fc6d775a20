# A small TOML writer using builtins only, so the configuration files the NixOS modules
# write can be rendered and tested without nixpkgs (nix/tests/check-config.sh).
#
# It writes one flat table: `key = value` lines, keys sorted, null values left out (the
# program then uses its own default). Values: strings, paths (as strings), integers,
# booleans, floats and lists of those scalars. Nested tables are not needed by either
# program and are refused, as is anything else a TOML reader would misread.
let
  inherit (builtins)
    attrNames concatStringsSep filter isAttrs isBool isFloat isInt isList isPath isString
    match throw toJSON toString typeOf;

  # A TOML basic string. The JSON string escapes Nix's toJSON emits (\" \\ \n \r \t \b
  # \f and \u00XX for the other control characters) are all valid TOML escapes.
  string = s: toJSON s;

  # toJSON writes 1.0 as "1", which TOML would read as an integer.
  float = f:
    let s = toJSON f;
    in if match ".*[.eE].*" s != null then s else s + ".0";

  scalar = where: v:
    if isBool v then (if v then "true" else "false")
    else if isInt v then toString v
    else if isFloat v then float v
    else if isString v then string v
    else if isPath v then string (toString v)
    else throw "toml.nix: ${where} is a ${typeOf v}; only strings, paths, integers, floats and booleans are written";

  value = key: v:
    if isList v then "[" + concatStringsSep ", " (map (scalar "an element of `${key}`") v) + "]"
    else if isAttrs v then throw "toml.nix: `${key}` is a table; only flat settings are written"
    else scalar "`${key}`" v;

  # Bare keys only (TOML: A-Za-z0-9_-), which is what both programs use.
  checkKey = key:
    if match "[A-Za-z0-9_-]+" key != null then key
    else throw "toml.nix: `${key}` is not a bare TOML key";
in
{
  inherit value;

  # attrs -> TOML text; null values are omitted.
  toTOML = attrs:
    let keys = filter (k: attrs.${k} != null) (attrNames attrs);
    in concatStringsSep "" (map (k: "${checkKey k} = ${value k attrs.${k}}\n") keys);
}

# Settings -> TOML for ledgerd and ledger-agent, builtins only (no nixpkgs), so the
# mapping the NixOS modules use can be evaluated by `nix-instantiate --eval --strict` in
# CI (nix/tests/check-config.sh) and fed to `ledgerd check-config` / `ledger-agent
# check-config`.
#
# `render.ledgerd values` / `render.agent values`: values is an attribute set of TOML keys
# (as in settings.nix). Missing keys take their settings.nix default, unknown keys and
# values of the wrong type or range are errors (the NixOS option types say the same in
# the module), and null values are left out of the file.
let
  inherit (builtins)
    all attrNames concatStringsSep elem filter isBool isFloat isInt isList isString
    listToAttrs match throw toJSON;
  settings = import ./settings.nix;
  toml = import ./toml.nix;

  inRange = e: v: (e.min or null == null || v >= e.min) && (e.max or null == null || v <= e.max);
  isUrl = v: isString v && match "https?://[^[:space:]]+" v != null;

  # Whether v is a valid value of the settings entry e (null: key left out).
  valid = e: v:
    if v == null then !(e.required or false)
    else if e.type == "str" then isString v && v != ""
    else if e.type == "id" then isString v && match "[A-Za-z0-9._:-]{1,128}" v != null
    else if e.type == "absPath" then isString v && match "/.*" v != null
    else if e.type == "listen" then isString v && match ".+:[0-9]+" v != null
    else if e.type == "url" then isUrl v
    else if e.type == "urlList" then isList v && v != [ ] && all isUrl v
    else if e.type == "int" then isInt v && inRange e v
    else if e.type == "float" then (isFloat v || isInt v) && inRange e v
    else if e.type == "bool" then isBool v
    else if e.type == "enum" then elem v e.values
    else throw "settings.nix: `${e.key}` has unknown type ${e.type}";

  # Refuses secrets placed in the world-readable Nix store.
  notInStore = e: v:
    !(e.secret or false) || v == null || match "/nix/store/.*" v == null;

  render = what: schema: values:
    let
      known = map (e: e.key) schema;
      unknown = filter (k: !(elem k known)) (attrNames values);
      resolved = map (e: e // { value = values.${e.key} or e.default; }) schema;
      problems =
        map (k: "unknown setting `${k}`") unknown
        ++ map (e: if e.value == null then "`${e.key}` is required" else "`${e.key}` = ${toJSON e.value} is not a valid ${e.type}")
          (filter (e: !(valid e e.value)) resolved)
        ++ map (e: "`${e.key}` names a secret file inside the Nix store, which every user can read")
          (filter (e: !(notInStore e e.value)) resolved);
    in
    if problems != [ ] then
      throw "${what} settings:\n  - ${concatStringsSep "\n  - " problems}"
    else
      toml.toTOML (listToAttrs (map (e: { name = e.key; value = e.value; }) resolved));
in
{
  inherit settings valid;
  ledgerd = render "services.evidence-ledger" settings.ledgerd;
  agent = render "services.ledger-agent" settings.agent;
  # Keys listed in settings.nix that another work stream adds to the program.
  pendingKeys = schema: map (e: e.key) (filter (e: e ? pending) schema);
  # The TOML writer, without any checks (the tests use it to write bad values).
  inherit (toml) toTOML;
}

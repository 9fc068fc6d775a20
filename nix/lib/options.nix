# Turns the settings list of settings.nix into typed, documented NixOS options
# (`lib.mkOption` with `type`, `default` and `description`). Used by both modules; needs
# nixpkgs' `lib`, unlike render.nix.
lib:
let
  inherit (lib) mkOption types;

  base = e:
    if e.type == "str" then types.nonEmptyStr
    else if e.type == "id" then types.strMatching "[A-Za-z0-9._:-]{1,128}"
    else if e.type == "absPath" then types.strMatching "/.*"
    else if e.type == "listen" then types.strMatching ".+:[0-9]+"
    else if e.type == "url" then types.strMatching "https?://[^[:space:]]+"
    else if e.type == "urlList" then types.nonEmptyListOf (types.strMatching "https?://[^[:space:]]+")
    else if e.type == "int" then
      (if e.max or null == null then types.addCheck types.int (v: v >= e.min)
       else types.ints.between e.min e.max)
    else if e.type == "float" then types.addCheck types.number (v: v >= e.min && v <= e.max)
    else if e.type == "bool" then types.bool
    else if e.type == "enum" then types.enum e.values
    else throw "settings.nix: `${e.key}` has unknown type ${e.type}";

  option = e: mkOption ({
    type = if e.default == null && !(e.required or false) then types.nullOr (base e) else base e;
    description = e.description
      + lib.optionalString (e ? pending)
        " (Contract C key of the ${e.pending} work stream: leave it null until the ledgerd you deploy accepts it.)";
  } // lib.optionalAttrs (!(e.required or false)) { inherit (e) default; });
in
schema: lib.listToAttrs (map (e: { name = e.key; value = option e; }) schema)

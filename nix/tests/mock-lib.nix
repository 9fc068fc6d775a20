# A stand-in for the few nixpkgs `lib` functions and `pkgs` builders the modules use,
# built from builtins, so nix/tests/modules.nix can evaluate the modules' `options` and
# `config` without nixpkgs (none on CI machines, no network). Option types become
# descriptive strings and `mkOption` returns its arguments; this checks the modules'
# own logic and attribute names, not the NixOS module system.
let
  inherit (builtins) elemAt length filter stringLength substring;
  hasPrefix = p: s: substring 0 (stringLength p) s == p;
in
{
  lib = rec {
    inherit hasPrefix filter;
    inherit (builtins) listToAttrs;
    mkOption = args: args // { _isOption = true; };
    mkEnableOption = what: mkOption { type = "bool"; default = false; description = "Whether to enable ${what}."; };
    mkIf = cond: value: if cond then value else { };
    mkDefault = v: v;
    literalExpression = s: { _literal = s; };
    optional = c: v: if c then [ v ] else [ ];
    optionals = c: l: if c then l else [ ];
    optionalString = c: s: if c then s else "";
    optionalAttrs = c: a: if c then a else { };
    removePrefix = p: s: if hasPrefix p s then substring (stringLength p) (stringLength s) s else s;
    last = l: elemAt l (length l - 1);
    splitString = sep: s: filter builtins.isString (builtins.split sep s);
    toInt = s: builtins.fromJSON s;
    types = {
      package = "package"; bool = "bool"; str = "str"; nonEmptyStr = "nonEmptyStr";
      int = "int"; number = "number";
      nullOr = t: { nullOr = t; };
      strMatching = re: { strMatching = re; };
      nonEmptyListOf = t: { nonEmptyListOf = t; };
      addCheck = t: check: { addCheck = t; };
      enum = values: { enum = values; };
      ints.between = lo: hi: { between = [ lo hi ]; };
    };
  };

  pkgs = {
    coreutils = { outPath = "/nix/store/mock-coreutils"; };
    writeText = name: text: { outPath = "/nix/store/mock-${name}"; inherit name text; };
    writeShellScript = name: text: { outPath = "/nix/store/mock-${name}"; inherit name text; };
    runCommand = name: env: script: { outPath = "/nix/store/mock-${name}"; inherit name script; };
    callPackage = path: args: throw "mock: the package is not built here";
  };
}

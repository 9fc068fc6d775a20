// Record search: filters in the route's query, newest log index first, cursor paging.

import { getJson, withQuery } from "../api.js";
import { apiParams, filterForm, nextPageButton } from "../filters.js";
import { h, replace, section } from "../dom.js";
import { recordsTable } from "../records.js";

const FILTERS = [
  ["site", "Site", []],
  ["appliance", "Appliance", null],
  ["kind", "Kind", ["", "evidence", "healing", "key"]],
  ["check_type", "Check type", null],
  ["status", "Status", ["", "pass", "warning", "fail", "error"]],
  ["incident", "Incident", null],
  ["from", "From", null],
  ["to", "To", null],
];

export async function render({ main, query, session }) {
  const params = apiParams(query, FILTERS.map(([n]) => n));
  const page = await getJson(withQuery("/v1/search/records", params));
  const first = new URLSearchParams(query);
  first.delete("cursor");
  replace(
    main,
    h("h1", {}, "Record search"),
    filterForm("search", FILTERS, query, session.sites),
    section(
      `${page.records.length} records${query.get("cursor") ? " (next page)" : ""}, newest log index first`,
      recordsTable(page.records),
      h("div", { class: "pager" }, query.get("cursor") ? h("a", { href: `#/search${first.toString() ? `?${first}` : ""}` }, "← first page") : null, " ", nextPageButton("search", query, page.next_cursor)),
    ),
  );
}

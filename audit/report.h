// RenderReport: report.html, the page of an export bundle (#5) that lawyers and judges read.
// One self-contained HTML5 file: an inline <style> and nothing else. No script, no image,
// no font, no stylesheet, no link that leaves the page (href only to "#..." anchors), and a
// Content-Security-Policy of default-src 'none' so a browser would load nothing even if it
// were asked to. Print CSS sets A4, starts each section on a new page and uses no dark
// backgrounds.
//
// Contents, in order: header (case title and id, export time, exporting device, purpose);
// how to check the bundle independently (the commands, verbatim in <pre>, and the signer's
// key); the case; every record (the latest revision's fields, the revision history and the
// full content of every earlier revision); the attachments with their SHA-256 and SHA-512;
// the custody log in log order with its Merkle checkpoint; a footer naming evault and the
// exporting device.
//
// Model (JSON; every string, number and key below is optional unless marked required):
//   {
//    "case":  {"case_id","title","status","tags":[...],"created","author"},      required
//    "records": [ {"record_id",
//                  "revisions": [ {"revision_id","revision":n,"parents":[...],"created",
//                                  "author","record":{...fields...}} ... ] } ],  oldest first
//    "attachments": [ {"attachment_id","record_id","path","file_name","media_type",
//                      "size":n,"sha256","sha512","captured","device"} ],
//    "custody": [ {"index":n,"time","device","action","stream","seq":n,"subject":{...}} ],
//    "checkpoint": {"size":n,"root","time","device"},
//    "export": {"time","device","purpose","signer_public_key","signer_fingerprint",
//               "ssh_identity"},                                                 required
//    "commands": [ {"what","command"} ]
//   }
// The record fields of a revision are HURIDOCS-like (kind, title, occurred{from,to,precision},
// location{country,region,city,place}, people[{name,role,affiliation,notes}],
// legal{charges[{code,article,description}],court,outcome,sentence}, narrative,
// sources[{kind,reference,reliability}], tags) and are laid out for reading; any other field,
// or a known one of an unexpected shape, is rendered generically (objects as key/value tables,
// arrays as lists, recursively), so nothing in a record is ever omitted. Unknown keys in the
// other objects are shown the same way. Times are shown as given (the model carries UTC).
//
// Contract: every string of the model, keys included, is HTML-escaped (& < > " ') before it
// reaches the page: record text is attacker-influenced. Valid UTF-8 passes through unchanged;
// invalid UTF-8 and control characters other than tab and newline become U+FFFD, and the
// bidirectional embedding/override/isolate controls (U+202A-U+202E, U+2066-U+2069) are shown
// as visible markers such as [U+202E] so they cannot disguise a file name or an id. A missing
// (or null or empty-string) optional value renders as an em dash. Fails with kInvalidArgument
// when "case" or "export" is missing or not an object, or when a section has the wrong
// shape (records, attachments, custody, commands not arrays of objects; checkpoint not an
// object).
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

#include "crypto/status.h"

namespace evault::audit {

inline constexpr char kReportFileName[] = "report.html";

Result<std::string> RenderReport(const nlohmann::json& model);

}  // namespace evault::audit

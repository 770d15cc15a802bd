// report.html of an export bundle: everything in the model is on the page, escaped; the page
// references nothing outside itself; and headless Chromium renders it to a screenshot, a DOM
// and a PDF (skipped without /usr/bin/chromium).
#include "audit/report.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "tests/audit/tool_test_util.h"

namespace evault::audit {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// The case of Amangeldy Batyrbekov (CIVICUS Monitor, Kazakhstan, August-October 2019), as the
// export code would model it: two records, one of them revised, three attachments.
json Model() {
  return json::parse(R"json({
 "case": {"case_id": "0459f1e5dc998dc996096e9552b42918",
          "title": "Amangeldy Batyrbekov: repeated libel convictions of a journalist (Turkestan region)",
          "status": "open", "tags": ["journalist", "defamation", "libel", "turkestan-region"],
          "created": "2019-10-03T08:14:22Z", "author": "f77648e5d3e027222417fcba0f7291cb"},
 "records": [
  {"record_id": "2c900c2d089965dbbf6764dd2a7555b2",
   "revisions": [
    {"revision_id": "a9f7e97965d6cf799a529102a973b8b9", "revision": 1, "parents": [],
     "created": "2019-09-12T10:02:51Z", "author": "f77648e5d3e027222417fcba0f7291cb",
     "record": {"kind": "trial", "title": "Trial of Amangeldy Batyrbekov for libel over a Facebook post",
                "occurred": {"from": "2019-09", "to": "2019-09", "precision": "month"},
                "location": {"country": "Kazakhstan", "region": "Turkestan Region"},
                "people": [{"name": "Amangeldy Batyrbekov", "role": "victim",
                            "affiliation": "Saryagash Info (newspaper), editor-in-chief"}],
                "legal": {"charges": [{"code": "Criminal Code of the Republic of Kazakhstan",
                                       "description": "Libel: allegedly damaging the honour and dignity of a state official"}],
                          "outcome": "Trial under way"},
                "narrative": "Trial opened in the Turkestan region.",
                "sources": [{"kind": "lawyer-account", "reference": "Telephone call with the defence lawyer, 12 September 2019", "reliability": "medium"}],
                "tags": ["defamation", "journalist"]}},
    {"revision_id": "9ab62b5ef34a985438bfdf7ee0102229", "revision": 2, "parents": ["a9f7e97965d6cf799a529102a973b8b9"],
     "created": "2019-10-04T15:40:09Z", "author": "7c1f0b4e6a2d48e5b93a0c6f5d2e8a17",
     "record": {"kind": "conviction",
                "title": "Amangeldy Batyrbekov sentenced to 2 years 10 months' imprisonment for libel over a Facebook post",
                "occurred": {"from": "2019-09", "to": "2019-09", "precision": "month"},
                "location": {"country": "Kazakhstan", "region": "Turkestan Region", "city": "Saryagash"},
                "people": [{"name": "Amangeldy Batyrbekov", "role": "victim",
                            "affiliation": "Saryagash Info (newspaper), editor-in-chief",
                            "notes": "Амангельды Батырбеков. Previously convicted of libel in 2015 and 2017."},
                           {"name": "Unnamed official, Ministry of Education", "role": "official",
                            "affiliation": "Ministry of Education"}],
                "legal": {"charges": [{"code": "Criminal Code of the Republic of Kazakhstan", "article": "130",
                                       "description": "Libel: allegedly damaging the honour and dignity of a state official"}],
                          "court": "Saryagash District Court", "outcome": "Convicted",
                          "sentence": "2 years and 10 months' imprisonment"},
                "narrative": "In September 2019, in the Turkestan region in the south of Kazakhstan, Amangeldy Batyrbekov, editor-in-chief of the newspaper Saryagash Info, was sentenced to two years and ten months' imprisonment on charges of libel.\n\nКраткое изложение: журналист осуждён за клевету за публикацию в Facebook.",
                "sources": [{"kind": "ngo-report", "reference": "CIVICUS Monitor update by IPHR and KIBHR, 'Kazakhstan: A tightening grip on civil society', section 'Defamation remains criminalised'", "reliability": "high"},
                            {"kind": "court-document", "reference": "Verdict of the Saryagash District Court (scan)", "reliability": "high"}],
                "tags": ["defamation", "journalist", "social-media", "imprisonment"]}}]},
  {"record_id": "d279186428a75016b17e4df5ea43d080",
   "revisions": [
    {"revision_id": "0a3d72134fb3d6c024db4c510bc1605b", "revision": 1, "parents": [],
     "created": "2019-10-05T09:11:47Z", "author": "f77648e5d3e027222417fcba0f7291cb",
     "record": {"kind": "conviction", "title": "Earlier libel convictions of Batyrbekov (2015 and 2017) over the same 2015 article",
                "occurred": {"from": "2015", "to": "2017", "precision": "year"},
                "location": {"country": "Kazakhstan"},
                "people": [{"name": "Amangeldy Batyrbekov", "role": "victim", "affiliation": "Adilet (newspaper), journalist in 2015"},
                           {"name": "Unnamed former deputy prosecutor", "role": "official", "notes": "Not named in the source.", "contact": {"via": "court registry"}}],
                "legal": {"charges": [{"code": "Criminal Code of the Republic of Kazakhstan", "description": "Libel against a former deputy prosecutor"}],
                          "outcome": "Convicted in early 2015; freed on appeal; convicted again in 2017; granted amnesty in 2017",
                          "sentence": "2015: one and a half years of restricted freedom; 2017: two years of restricted freedom",
                          "appeal": {"court": "Turkestan Regional Court", "result": "freed on appeal"}},
                "narrative": "In early 2015, while working for the newspaper Adilet, Batyrbekov was found guilty of libel against the former deputy prosecutor.",
                "sources": [{"kind": "ngo-report", "reference": "CIVICUS Monitor update by IPHR and KIBHR", "reliability": "high"}],
                "tags": ["defamation", "restricted-freedom", "amnesty"],
                "court_documents": {"archive": "KZ-TRK-2017-0114", "pages": [3, 4, 17],
                                    "custodian": {"name": "Kadyr Batyrbekov", "name_cyrillic": "Кадыр Батырбеков"}},
                "confidential": false}}]}],
 "attachments": [
  {"attachment_id": "63a9f0ea7bb98050796b649e85481845", "record_id": "2c900c2d089965dbbf6764dd2a7555b2",
   "path": "data/attachments/63a9f0ea7bb98050796b649e85481845/verdict-saryagash-2019.pdf",
   "file_name": "verdict-saryagash-2019.pdf", "media_type": "application/pdf", "size": 284731,
   "sha256": "11e221bd1b7fc99544f3f765b0c39dd2786e636c3422d6bec026d1ed03884cac",
   "sha512": "164fc0028ee25b5f8b0573b63bb4dea555961d17371e44a80a8005da6844ea4c5b382b65631fde385541fccb8efacaa43a40830230e9ae1fcb4dc9ebfdc0fd4c",
   "captured": "2019-10-04T15:31:00Z", "device": "7c1f0b4e6a2d48e5b93a0c6f5d2e8a17"},
  {"attachment_id": "cea099a8f5ac3e289e317d461beb9261", "record_id": "2c900c2d089965dbbf6764dd2a7555b2",
   "path": "data/attachments/cea099a8f5ac3e289e317d461beb9261/facebook-post-screenshot.png",
   "file_name": "facebook-post-screenshot.png", "media_type": "image/png", "size": 912,
   "sha256": "3d59f7548e1af2151b64135003ce63c0a484c26b9b8b166a7b1c1805ec34b00a",
   "sha512": "bf2a37d5e83e612cdfeebec9e2e71a318e9767cd3e035f4b8ed73eecf2ae8110b3aa3f3688874f7cfae8cb49474369e74cdde7dba7bddf84f0c5f6fc56013715",
   "captured": "2019-09-12T09:58:13Z", "device": "f77648e5d3e027222417fcba0f7291cb"},
  {"attachment_id": "5e0d2b9a41c7f3e8d6a2b4c1f0e9d8c7", "record_id": "d279186428a75016b17e4df5ea43d080",
   "path": "data/attachments/5e0d2b9a41c7f3e8d6a2b4c1f0e9d8c7/interview-defence-lawyer.ogg",
   "file_name": "interview-defence-lawyer.ogg", "media_type": "audio/ogg", "size": 3482113,
   "sha256": "da7e2d4b40b63f98e9fc566d7b5145da923c16c638a22c9f1885bf030e4dc72a",
   "sha512": "0c08125eb41f4e4ca0c79f57fe083f3e184466e5c22a5d265241611b256214b9eb1ec3c288754aa28b9b8312d9f945164742544d4baf3dddf5f4dcbe5b86ce80",
   "captured": "2019-10-05T08:50:30Z", "device": "f77648e5d3e027222417fcba0f7291cb"}],
 "custody": [
  {"index": 0, "time": "2019-10-03T08:14:22Z", "device": "f77648e5d3e027222417fcba0f7291cb", "action": "case.create",
   "stream": "f77648e5d3e027222417fcba0f7291cb", "seq": 1, "subject": {"case_id": "0459f1e5dc998dc996096e9552b42918"}},
  {"index": 1, "time": "2019-10-03T08:20:05Z", "device": "f77648e5d3e027222417fcba0f7291cb", "action": "record.create",
   "stream": "f77648e5d3e027222417fcba0f7291cb", "seq": 2,
   "subject": {"record_id": "2c900c2d089965dbbf6764dd2a7555b2", "revision_id": "a9f7e97965d6cf799a529102a973b8b9"}},
  {"index": 2, "time": "2019-10-03T08:21:40Z", "device": "f77648e5d3e027222417fcba0f7291cb", "action": "attachment.add",
   "stream": "f77648e5d3e027222417fcba0f7291cb", "seq": 3,
   "subject": {"attachment_id": "cea099a8f5ac3e289e317d461beb9261", "sha256": "3d59f7548e1af2151b64135003ce63c0a484c26b9b8b166a7b1c1805ec34b00a"}},
  {"index": 3, "time": "2019-10-04T15:40:09Z", "device": "7c1f0b4e6a2d48e5b93a0c6f5d2e8a17", "action": "record.revise",
   "stream": "7c1f0b4e6a2d48e5b93a0c6f5d2e8a17", "seq": 1,
   "subject": {"record_id": "2c900c2d089965dbbf6764dd2a7555b2", "revision_id": "9ab62b5ef34a985438bfdf7ee0102229",
               "parents": ["a9f7e97965d6cf799a529102a973b8b9"]}},
  {"index": 4, "time": "2019-10-04T15:41:12Z", "device": "7c1f0b4e6a2d48e5b93a0c6f5d2e8a17", "action": "attachment.add",
   "stream": "7c1f0b4e6a2d48e5b93a0c6f5d2e8a17", "seq": 2,
   "subject": {"attachment_id": "63a9f0ea7bb98050796b649e85481845", "sha256": "11e221bd1b7fc99544f3f765b0c39dd2786e636c3422d6bec026d1ed03884cac"}},
  {"index": 5, "time": "2019-10-20T11:02:33Z", "device": "f77648e5d3e027222417fcba0f7291cb", "action": "case.export",
   "stream": "f77648e5d3e027222417fcba0f7291cb", "seq": 4,
   "subject": {"case_id": "0459f1e5dc998dc996096e9552b42918", "purpose": "Defence of Amangeldy Batyrbekov on appeal"}}],
 "checkpoint": {"size": 6, "root": "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881",
                "time": "2019-10-20T11:02:34Z", "device": "f77648e5d3e027222417fcba0f7291cb"},
 "export": {"time": "2019-10-20T11:02:33Z", "device": "f77648e5d3e027222417fcba0f7291cb",
            "purpose": "Defence of Amangeldy Batyrbekov on appeal",
            "signer_public_key": "RWQe19BSCPYNoP4VtxSg8itIsfLzgF87roeOsKEPaxnL4jIiEg0A3B+6",
            "signer_fingerprint": "45FD33C2EF5E77F4", "ssh_identity": "evault-f77648e5d3e027222417fcba0f7291cb"},
 "commands": [
  {"what": "Check every file of the bundle against its SHA-256 manifest", "command": "sha256sum -c manifest-sha256.txt"},
  {"what": "The same with SHA-512", "command": "sha512sum -c manifest-sha512.txt"},
  {"what": "Check the tag files (bag-info, manifests, the signer's key)", "command": "sha256sum -c tagmanifest-sha256.txt"},
  {"what": "Check the signature on the tag manifest with minisign", "command": "minisign -Vm tagmanifest-sha256.txt -p exporter.pub"},
  {"what": "Or with OpenSSH", "command": "ssh-keygen -Y verify -f allowed_signers -I evault-f77648e5d3e027222417fcba0f7291cb -n evault-export \\\n  -s tagmanifest-sha256.txt.sshsig < tagmanifest-sha256.txt"}]
})json");
}

// The escaping the page must apply to every string of the model (valid UTF-8, no controls).
std::string Escaped(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string Render(const json& model) {
  auto html = RenderReport(model);
  EXPECT_TRUE(html) << html.error().message;
  return html ? *html : std::string();
}

bool Contains(const std::string& html, std::string_view needle) { return html.find(needle) != std::string::npos; }

void ForEachLeaf(const json& v, const std::function<void(const json&)>& f) {
  if (v.is_object() || v.is_array()) {
    for (const auto& item : v) ForEachLeaf(item, f);
  } else {
    f(v);
  }
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

TEST(ReportTest, ShowsTheCaseRecordsRevisionsAttachmentsCustodyAndHowToCheck) {
  const json model = Model();
  const std::string html = Render(model);
  EXPECT_TRUE(html.starts_with("<!DOCTYPE html>"));
  EXPECT_TRUE(Contains(html, "Evidence export"));
  EXPECT_TRUE(Contains(html, model["case"]["title"].get<std::string>()));
  for (const auto& record : model["records"])
    for (const auto& revision : record["revisions"]) {
      EXPECT_TRUE(Contains(html, Escaped(revision["record"]["title"].get<std::string>())));
      EXPECT_TRUE(Contains(html, revision["revision_id"].get<std::string>()));
    }
  for (const auto& a : model["attachments"]) {
    EXPECT_TRUE(Contains(html, a["sha256"].get<std::string>()));
    EXPECT_TRUE(Contains(html, a["sha512"].get<std::string>()));
    EXPECT_TRUE(Contains(html, a["file_name"].get<std::string>()));
    EXPECT_TRUE(Contains(html, a["path"].get<std::string>()));
  }
  for (const auto& entry : model["custody"]) EXPECT_TRUE(Contains(html, entry["action"].get<std::string>()));
  for (const auto& c : model["commands"]) EXPECT_TRUE(Contains(html, "<pre>" + Escaped(c["command"].get<std::string>()) + "</pre>"));
  EXPECT_TRUE(Contains(html, "ssh-keygen -Y verify -f allowed_signers"));
  EXPECT_TRUE(Contains(html, "-s tagmanifest-sha256.txt.sshsig &lt; tagmanifest-sha256.txt"));
  EXPECT_TRUE(Contains(html, "<pre>RWQe19BSCPYNoP4VtxSg8itIsfLzgF87roeOsKEPaxnL4jIiEg0A3B+6</pre>"));
  EXPECT_TRUE(Contains(html, "45FD33C2EF5E77F4"));
  EXPECT_TRUE(Contains(html, "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"));
  EXPECT_TRUE(Contains(html, "Generated by evault"));
  // Sizes in bytes and readable.
  EXPECT_TRUE(Contains(html, "284,731 bytes"));
  EXPECT_TRUE(Contains(html, "284.7 kB"));
  EXPECT_TRUE(Contains(html, "3,482,113 bytes"));
  EXPECT_TRUE(Contains(html, "3.5 MB"));
  EXPECT_TRUE(Contains(html, "912 bytes"));
  // The earlier revision's content is there, with what changed marked.
  EXPECT_TRUE(Contains(html, "Trial under way"));
  EXPECT_TRUE(Contains(html, "changed later"));
}

TEST(ReportTest, SectionsComeInOrder) {
  const std::string html = Render(Model());
  std::size_t at = 0;
  for (const char* heading : {"<h1>Evidence export</h1>", "How to check this bundle independently</h2>",
                              "The case</h2>", "Records</h2>", "Attachments</h2>", "Custody timeline</h2>",
                              "Merkle checkpoint</h3>", "<footer>"}) {
    const std::size_t next = html.find(heading, at);
    ASSERT_NE(next, std::string::npos) << heading;
    at = next;
  }
  // Records and revisions in model order; the current content before the earlier revision.
  EXPECT_LT(html.find("sentenced to 2 years 10 months"), html.find("Trial of Amangeldy Batyrbekov"));
  EXPECT_LT(html.find("Trial of Amangeldy Batyrbekov"), html.find("Earlier libel convictions"));
  // Custody in log order.
  EXPECT_LT(html.find("case.create"), html.find("record.create"));
  EXPECT_LT(html.find("record.revise"), html.find("case.export"));
}

TEST(ReportTest, EveryStringAndNumberOfTheModelIsOnThePage) {
  const json model = Model();
  const std::string html = Render(model);
  ForEachLeaf(model, [&](const json& leaf) {
    if (leaf.is_string()) {
      const auto& s = leaf.get_ref<const std::string&>();
      // Multi-line values (the narrative, a command) are on the page line by line.
      std::size_t begin = 0;
      while (begin <= s.size()) {
        std::size_t end = s.find('\n', begin);
        if (end == std::string::npos) end = s.size();
        const std::string line = s.substr(begin, end - begin);
        if (!line.empty()) {
          EXPECT_TRUE(Contains(html, Escaped(line))) << line;
        }
        begin = end + 1;
      }
    } else if (leaf.is_number()) {  // sizes are shown with thousands separators
      std::string grouped = leaf.dump();
      for (int at = static_cast<int>(grouped.size()) - 3; at > 0; at -= 3) grouped.insert(static_cast<std::size_t>(at), ",");
      EXPECT_TRUE(Contains(html, leaf.dump()) || Contains(html, grouped)) << leaf.dump();
    }
  });
  // Unknown fields, nested: their keys as well.
  for (const char* key : {"court_documents", "archive", "custodian", "name_cyrillic", "confidential", "contact", "appeal"})
    EXPECT_TRUE(Contains(html, key)) << key;
}

TEST(ReportTest, HostileStringsRenderAsText) {
  json model = Model();
  model["case"]["title"] = "Batyrbekov & Sons \"quoted\" 'single' <b>bold</b>";
  model["records"][0]["revisions"][1]["record"]["title"] = "<script>alert(1)</script>";
  model["records"][1]["revisions"][0]["record"]["<img src=x onerror=alert(3)>"] = "key as attack";
  model["attachments"][0]["file_name"] = "\"><img src=x onerror=alert(2)>.pdf";
  model["attachments"][1]["media_type"] = "text/html'><iframe>";
  model["custody"][2]["subject"]["sha256"] = "</td></tr></table><script>alert(4)</script>";
  model["custody"][2]["subject"]["</span><style>body{display:none}</style>"] = "x";
  model["export"]["purpose"] = "Court & \"appeal\"";
  model["commands"][0]["command"] = "sha256sum -c manifest-sha256.txt </pre><script>alert(5)</script>";
  const std::string html = Render(model);

  const std::string lower = Lower(html);
  EXPECT_FALSE(Contains(lower, "<script"));
  EXPECT_FALSE(Contains(lower, "<img"));
  EXPECT_FALSE(Contains(lower, "<iframe"));
  EXPECT_FALSE(Contains(lower, "<b>bold"));
  EXPECT_EQ(lower.find("<style"), lower.rfind("<style"));  // only the page's own
  EXPECT_TRUE(Contains(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
  EXPECT_TRUE(Contains(html, "Batyrbekov &amp; Sons &quot;quoted&quot; &#39;single&#39; &lt;b&gt;bold&lt;/b&gt;"));
  EXPECT_TRUE(Contains(html, "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;.pdf"));
  EXPECT_TRUE(Contains(html, "&lt;img src=x onerror=alert(3)&gt;"));
  EXPECT_TRUE(Contains(html, "&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;&lt;script&gt;alert(4)&lt;/script&gt;"));
  EXPECT_TRUE(Contains(html, "Court &amp; &quot;appeal&quot;"));
  EXPECT_TRUE(Contains(html, "&lt;/pre&gt;&lt;script&gt;alert(5)&lt;/script&gt;"));
  // The <title> too.
  EXPECT_TRUE(Contains(html, "<title>Evidence export \u2014 Batyrbekov &amp; Sons"));
}

TEST(ReportTest, ReferencesNothingOutsideThePage) {
  const std::string html = Lower(Render(Model()));
  for (const char* bad : {"http://", "https://", "//", "src=", "@import", "url(", "<link", "<script", "<iframe",
                          "<object", "<embed", "<img", "<base", "<form", "javascript:", "@font-face"})
    EXPECT_FALSE(Contains(html, bad)) << bad;
  for (std::size_t at = html.find("href="); at != std::string::npos; at = html.find("href=", at + 1))
    EXPECT_EQ(html.substr(at, 7), "href=\"#") << html.substr(at, 40);
  EXPECT_TRUE(Contains(html, "content-security-policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\""));
  EXPECT_TRUE(Contains(html, "@page"));
  EXPECT_TRUE(Contains(html, "size: a4"));
}

TEST(ReportTest, AUrlInARecordIsTextNotALink) {
  json model = Model();
  model["records"][1]["revisions"][0]["record"]["sources"][0]["reference"] =
      "https://monitor.civicus.org/country/kazakhstan/?page=2&lang=ru";
  const std::string html = Render(model);
  EXPECT_TRUE(Contains(html, "https://monitor.civicus.org/country/kazakhstan/?page=2&amp;lang=ru"));
  EXPECT_FALSE(Contains(html, "href=\"http"));
  EXPECT_FALSE(Contains(html, "src="));
}

TEST(ReportTest, Utf8PassesThroughAndBadBytesDoNot) {
  json model = Model();
  model["records"][1]["revisions"][0]["record"]["people"][0]["notes"] = "Кадыр Батырбеков, Бишкек — «свидетель»";
  model["attachments"][2]["file_name"] = "invoice\u202Egpj.exe";
  model["custody"][0]["subject"]["note"] = std::string("bad\xC3(byte\x00nul\x1b[31m", 18);
  const std::string html = Render(model);
  EXPECT_TRUE(Contains(html, "Кадыр Батырбеков, Бишкек — «свидетель»"));
  EXPECT_TRUE(Contains(html, "Амангельды Батырбеков"));
  EXPECT_TRUE(Contains(html, "Краткое изложение"));
  EXPECT_TRUE(Contains(html, "<meta charset=\"utf-8\">"));
  // A right-to-left override cannot disguise a file name.
  EXPECT_TRUE(Contains(html, "invoice[U+202E]gpj.exe"));
  EXPECT_FALSE(Contains(html, "\u202E"));
  // Invalid UTF-8 and control characters become U+FFFD.
  EXPECT_TRUE(Contains(html, "bad\uFFFD(byte\uFFFDnul\uFFFD[31m"));
  EXPECT_FALSE(Contains(html, std::string(1, '\0')));
  EXPECT_FALSE(Contains(html, "\x1b"));
}

TEST(ReportTest, MissingOptionalFieldsRenderAsADash) {
  const std::string html = Render(json::parse(R"({"case": {"title": "Danaya Kalieva"}, "export": {}})"));
  EXPECT_TRUE(Contains(html, "Danaya Kalieva"));
  EXPECT_TRUE(Contains(html, "<tr><th>Status</th><td><span class=\"dash\">\u2014</span></td></tr>"));
  EXPECT_TRUE(Contains(html, "<tr><th>Purpose</th><td><span class=\"dash\">\u2014</span></td></tr>"));
  EXPECT_TRUE(Contains(html, "This export holds no records."));
  EXPECT_TRUE(Contains(html, "This export holds no attachments."));
  EXPECT_TRUE(Contains(html, "This export holds no custody entries."));
  EXPECT_TRUE(Contains(html, "<tr><th>Root hash</th><td><span class=\"dash\">\u2014</span></td></tr>"));

  // A record whose revision lacks most fields, and null and empty values.
  json model = Model();
  model["records"][0]["revisions"][1]["record"] = json::parse(R"({"title": "Only a title", "kind": null, "narrative": ""})");
  model["attachments"][0].erase("sha512");
  model["attachments"][0]["size"] = nullptr;
  const std::string partial = Render(model);
  EXPECT_TRUE(Contains(partial, "Only a title"));
  EXPECT_TRUE(Contains(partial, "<tr><th>SHA-512</th><td><span class=\"dash\">\u2014</span></td></tr>"));
}

TEST(ReportTest, MissingCaseOrExportIsAnError) {
  for (const char* text : {R"({"export": {}})", R"({"case": {}})", R"({"case": "x", "export": {}})", R"([])",
                           R"({"case": {}, "export": {}, "records": {}})",
                           R"({"case": {}, "export": {}, "attachments": [1]})",
                           R"({"case": {}, "export": {}, "records": [{"revisions": [3]}]})",
                           R"({"case": {}, "export": {}, "checkpoint": []})"}) {
    auto html = RenderReport(json::parse(text));
    ASSERT_FALSE(html) << text;
    EXPECT_EQ(html.error().code, ErrorCode::kInvalidArgument) << text;
  }
}

TEST(ReportTest, DeeplyNestedUnknownFieldsDoNotOverflowAndAreNotOmitted) {
  json deep = "the bottom";
  for (int i = 0; i < 500; ++i) deep = json{{"level", deep}};
  json model = Model();
  model["records"][0]["revisions"][1]["record"]["chain"] = deep;
  model["custody"][0]["subject"]["chain"] = deep;
  const std::string html = Render(model);
  EXPECT_TRUE(Contains(html, "the bottom"));
}

// Headless Chromium renders the page: a screenshot, the DOM and a PDF.
class ReportRenderTest : public testing::ToolTest {
 protected:
  int Chromium(const std::string& args) {
    return testing::RunShell("timeout 60 /usr/bin/chromium --headless=new --no-sandbox --disable-gpu "
                             "--user-data-dir='" + (dir_ / "profile").string() + "' " + args + " 2>/dev/null");
  }
};

TEST_F(ReportRenderTest, ChromiumRendersAScreenshotTheDomAndAPdf) {
  if (!fs::exists("/usr/bin/chromium")) GTEST_SKIP() << "/usr/bin/chromium not installed";
  const json model = Model();
  const std::string html = Render(model);
  const fs::path page = dir_ / "report.html";
  testing::WriteFile(page, html);
  const std::string url = "'file://" + page.string() + "'";

  const fs::path shot = dir_ / "shot.png";
  ASSERT_EQ(Chromium("--screenshot='" + shot.string() + "' --window-size=1280,2000 " + url + " >/dev/null"), 0);
  const std::string png = testing::ReadFile(shot);
  ASSERT_GT(png.size(), 30000u) << "a screenshot of a full page is not this small";
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(png.substr(12, 4), "IHDR");
  const auto byte = [&](std::size_t i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(png[i])); };
  EXPECT_EQ(byte(16) << 24 | byte(17) << 16 | byte(18) << 8 | byte(19), 1280u);
  EXPECT_EQ(byte(20) << 24 | byte(21) << 16 | byte(22) << 8 | byte(23), 2000u);

  const fs::path dom = dir_ / "dom.html";
  ASSERT_EQ(Chromium("--dump-dom " + url + " >'" + dom.string() + "'"), 0);
  const std::string text = testing::ReadFile(dom);
  EXPECT_TRUE(Contains(text, model["case"]["title"].get<std::string>()));
  EXPECT_TRUE(Contains(text, model["attachments"][0]["sha256"].get<std::string>()));
  EXPECT_TRUE(Contains(text, "Кадыр Батырбеков"));
  EXPECT_FALSE(Contains(Lower(text), "<script"));

  const fs::path pdf = dir_ / "report.pdf";
  ASSERT_EQ(Chromium("--no-pdf-header-footer --print-to-pdf='" + pdf.string() + "' " + url + " >/dev/null"), 0);
  const std::string pdf_bytes = testing::ReadFile(pdf);
  EXPECT_TRUE(pdf_bytes.starts_with("%PDF-"));
  EXPECT_GT(pdf_bytes.size(), 10000u);
  // Each section starts a new page: the header and five sections make at least six.
  int pages = 0;
  for (std::size_t at = pdf_bytes.find("/Type /Page"); at != std::string::npos; at = pdf_bytes.find("/Type /Page", at + 1))
    pages += pdf_bytes.compare(at, 12, "/Type /Pages") != 0;
  EXPECT_GE(pages, 6);

  // EVAULT_REPORT_ARTIFACTS=DIR keeps the page, the screenshot and the PDF for a human to look at.
  if (const char* keep = std::getenv("EVAULT_REPORT_ARTIFACTS")) {
    fs::create_directories(keep);
    for (const fs::path& p : {page, shot, pdf})
      fs::copy_file(p, fs::path(keep) / p.filename(), fs::copy_options::overwrite_existing);
  }
}

}  // namespace
}  // namespace evault::audit

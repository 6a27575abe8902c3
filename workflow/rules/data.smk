# Data stages: download -> prepare (clean + sentencepiece or GPT-2 BPE) -> binarize; the
# pretrain stage (a masked LM for classification) comes before prepare.


rule check_params:
    input:
        "params.yaml",
        code=stage_code("check_params"),
    output:
        "build/params.ok",
    log:
        "logs/check_params.log",
    conda:
        ENV
    shell:
        "python workflow/scripts/check_params.py --params params.yaml --out {output} > {log} 2>&1"


rule pretrain:
    input:
        "build/params.ok",
        code=stage_code("pretrain"),
    output:
        model=directory(PRETRAINED),
        summary=f"{PRETRAIN_METRICS}/pretrain.json",
        curve=f"{PRETRAIN_METRICS}/train_log.csv",
    log:
        "logs/pretrain.log",
    conda:
        ENV
    params:
        metrics=lambda w: PRETRAIN_METRICS,  # a function: see results.smk
    threads: 2
    shell:
        "python workflow/scripts/pretrain.py --params params.yaml --out {output.model}"
        " --metrics {params.metrics} --workers {threads} > {log} 2>&1"


rule download:
    input:
        "build/params.ok",
        code=stage_code("download"),
        local=LOCAL_FILES,  # a declared dataset's local files: editing one reruns the download
    output:
        directory(RAW),
    log:
        "logs/download.log",
    conda:
        ENV
    shell:
        "python workflow/scripts/download.py --params params.yaml --out {output} > {log} 2>&1"


rule prepare:
    input:
        raw=RAW,
        pretrained=PRETRAINED,
        code=stage_code("prepare"),
    output:
        directory(PREP),
    log:
        "logs/prepare.log",
    conda:
        ENV
    threads: 2
    shell:
        "python workflow/scripts/prepare.py --params params.yaml --raw {input.raw} --out {output}"
        " --pretrain {input.pretrained}"
        " --workers {threads} > {log} 2>&1"


rule binarize:
    input:
        prep=PREP,
        code=stage_code("binarize"),
    output:
        directory(BIN),
    log:
        "logs/binarize.log",
    conda:
        ENV
    threads: 2
    shell:
        "python workflow/scripts/binarize.py --params params.yaml --prep {input.prep} --out {output}"
        " --workers {threads} > {log} 2>&1"


rule extra_test:
    input:
        prep=PREP,
        data=BIN,
        code=stage_code("extra_test"),
    output:
        directory(EXTRA),
    log:
        "logs/extra_test.log",
    conda:
        ENV
    shell:
        "python workflow/scripts/extra_test.py --params params.yaml --prep {input.prep}"
        " --bin {input.data} --out {output} > {log} 2>&1"

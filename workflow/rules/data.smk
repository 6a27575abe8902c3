# Data stages: download -> prepare (clean + sentencepiece) -> binarize.


rule check_params:
    input:
        "params.yaml",
        "workflow/scripts/check_params.py",
    output:
        "build/params.ok",
    log:
        "logs/check_params.log",
    conda:
        ENV
    shell:
        "python workflow/scripts/check_params.py --params params.yaml --out {output} > {log} 2>&1"


rule download:
    input:
        "build/params.ok",
        "workflow/scripts/download.py",
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
        script="workflow/scripts/prepare.py",
    output:
        directory(PREP),
    log:
        "logs/prepare.log",
    conda:
        ENV
    threads: 2
    shell:
        "python workflow/scripts/prepare.py --params params.yaml --raw {input.raw} --out {output}"
        " --workers {threads} > {log} 2>&1"


rule binarize:
    input:
        prep=PREP,
        script="workflow/scripts/binarize.py",
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
        script="workflow/scripts/extra_test.py",
    output:
        directory(EXTRA),
    log:
        "logs/extra_test.log",
    conda:
        ENV
    shell:
        "python workflow/scripts/extra_test.py --params params.yaml --prep {input.prep}"
        " --bin {input.data} --out {output} > {log} 2>&1"

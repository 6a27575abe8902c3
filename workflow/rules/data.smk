# Data stages: download -> prepare (clean + sentencepiece) -> binarize.


rule check_params:
    input:
        "params.yaml",
        "workflow/scripts/check_params.py",
    output:
        "build/params.ok",
    log:
        "logs/check_params.log",
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
    shell:
        "python workflow/scripts/download.py --params params.yaml --out {output} > {log} 2>&1"


rule prepare:
    input:
        RAW,
        "workflow/scripts/prepare.py",
    output:
        directory(PREP),
    log:
        "logs/prepare.log",
    threads: 2
    shell:
        "python workflow/scripts/prepare.py --params params.yaml --raw {input[0]} --out {output}"
        " --workers {threads} > {log} 2>&1"


rule binarize:
    input:
        PREP,
        "workflow/scripts/binarize.py",
    output:
        directory(BIN),
    log:
        "logs/binarize.log",
    threads: 2
    shell:
        "python workflow/scripts/binarize.py --params params.yaml --prep {input[0]} --out {output}"
        " --workers {threads} > {log} 2>&1"

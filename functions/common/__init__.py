"""Pure code shared by the pipeline's Lambdas: names, request builders, status normalisation, AWS helpers."""

"""Theory made runnable: provable learning of one-layer ReLU generators (Wu, Dimakis & Sanghavi, NeurIPS 2019)."""

from genprior.theory.relu_learning import (
    RELU_LEARNERS,
    ReluGeneratorEstimate,
    b_error,
    estimate_relu_generator,
    fit_gaussian,
    fit_relu_generator_gan,
    fit_relu_generator_moments,
    learn_relu_generator,
    orthant_correlation,
    orthant_probability,
    random_relu_generator,
    relu_generator_samples,
    sigma_error,
    truncated_normal_mle,
    truncated_normal_sgd,
    tv_bound,
)

__all__ = [
    "RELU_LEARNERS", "ReluGeneratorEstimate", "b_error", "estimate_relu_generator", "fit_gaussian",
    "fit_relu_generator_gan", "fit_relu_generator_moments", "learn_relu_generator",
    "orthant_correlation", "orthant_probability", "random_relu_generator", "relu_generator_samples", "sigma_error",
    "truncated_normal_mle", "truncated_normal_sgd", "tv_bound",
]

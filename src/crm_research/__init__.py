"""crm-research: CRM analytics research kit.

One helper package behind five parameterised notebooks: baseline KPIs, segmentation,
journey mapping, ad attribution and churn modelling.
"""

from crm_research.errors import CRMError, DataValidationError, ParameterError

__version__ = "0.1.0"

__all__ = ["CRMError", "DataValidationError", "ParameterError", "__version__"]

from .person_search_metric import PersonSearchMetric

__all__ = ['PersonSearchMetric']

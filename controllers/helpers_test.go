package controllers

import (
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func keyOf(o client.Object) types.NamespacedName { return client.ObjectKeyFromObject(o) }

func keyNS(ns, name string) types.NamespacedName {
	return types.NamespacedName{Namespace: ns, Name: name}
}
